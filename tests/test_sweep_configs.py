"""The sweep presets compose with the launcher and sweeper plugins (no runs)."""

from __future__ import annotations

import importlib.resources

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanrun.pipeline import register_configs


def hydra_config(*overrides: str):
    register_configs()
    with initialize_config_module(config_module="kanrun.configs", version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    return cfg


def test_presets_are_the_files_in_the_groups():
    def options(group):
        folder = importlib.resources.files("kanrun.configs") / group
        return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))

    assert options("launcher") == ["ensemble", "local", "slurm", "submitit_local"]
    assert options("hparams_search") == ["optuna"]


def test_ensemble_preset_is_kanruns_launcher():
    cfg = hydra_config("+launcher=ensemble")
    assert cfg.hydra.launcher._target_ == (
        "hydra_plugins.kanrun_ensemble_launcher.ensemble_launcher.EnsembleLauncher")


def test_local_preset_is_joblib_with_one_thread_per_job():
    cfg = hydra_config("+launcher=local", "hydra.launcher.n_jobs=2")
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 2 and cfg.num_threads == 1


@pytest.mark.parametrize("threads", [1, 3])
def test_slurm_preset_follows_num_threads(threads):
    cfg = hydra_config("+launcher=slurm", f"num_threads={threads}")
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["cpus_per_task"] == threads
    assert f"export OMP_NUM_THREADS={threads}" in launcher["setup"]
    assert f"export MKL_NUM_THREADS={threads}" in launcher["setup"]
    assert launcher["timeout_min"] == 60 and launcher["mem_gb"] == 4
    assert launcher["array_parallelism"] == 64


def test_submitit_local_preset():
    cfg = hydra_config("+launcher=submitit_local", "num_threads=2")
    assert cfg.hydra.launcher._target_.endswith("LocalLauncher")
    assert OmegaConf.to_container(cfg.hydra.launcher, resolve=True)["cpus_per_task"] == 2


def test_optuna_preset_minimizes_with_sqlite_storage():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install kanrun[search]")
    cfg = hydra_config("+hparams_search=optuna")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "minimize" and sweeper.storage.startswith("sqlite:///")
    assert sweeper.max_failure_rate == 1.0
    assert set(sweeper.params) == {"pipeline.stages.sparsify.lamb", "model.grid"}
