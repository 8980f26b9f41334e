"""Every packaged config composes against the schema, and bad values get one clear error."""

from __future__ import annotations

import importlib.resources
from dataclasses import replace

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from kanrun.cli.train import translate_old_keys, unknown_override
from kanrun.data import DatasetError
from kanrun.pipeline import RunConfig, RunConfigError, check_config, prepare, register_configs
from kanrun.pipeline.execute import to_run_config
from kanrun.pipeline.schema import (
    STAGE_NAMES,
    DatasetSchema,
    GridExtendStage,
    ModelConfig,
    PipelineConfig,
    StagesConfig,
    unknown_keys,
)


def group_options(group: str) -> list[str]:
    folder = importlib.resources.files("kanrun.configs") / group
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def composed(*overrides: str) -> RunConfig:
    register_configs()
    with initialize_config_module(config_module="kanrun.configs", version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    return to_run_config(cfg)


def test_default_config_is_the_embedded_hellokan_run():
    cfg = composed()
    assert cfg.dataset.name == "toy" and cfg.dataset.function == "hellokan"
    assert cfg.model.width is None and cfg.model.grid == 5  # the data give the shape's ends
    assert cfg.pipeline.order == list(STAGE_NAMES)
    assert cfg.pipeline.stages.grid_extend.grids == [10, 20]
    assert cfg.pipeline.stages.sparsify.lamb == 0.01
    assert cfg.seed == 0 and cfg.num_threads == 1 and cfg.quiet is False
    assert composed("+experiment=default") == cfg


def test_global_keys_reach_the_model_and_the_data():
    cfg = composed("seed=7", "dtype=float64")
    assert (cfg.model.seed, cfg.model.dtype, cfg.dataset.dtype) == (7, "float64", "float64")
    assert cfg.dataset.seed == 0  # the data is drawn with its own seed
    assert composed("seed=7", "model.seed=3").model.seed == 3


def test_packaged_groups_have_the_documented_options():
    assert group_options("experiment") == ["deep_formula", "default", "feynman",
                                           "grid_extension", "hellokan", "smoke"]
    assert group_options("pipeline") == ["default", "discover", "grid_extension", "numeric"]
    assert "toy" in group_options("dataset")


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_composes_and_prepares(experiment):
    cfg = composed(f"+experiment={experiment}")
    prepared = prepare(cfg)
    if prepared.model is None:  # no shape given for a law to find: a discovery run
        assert experiment == "feynman" and cfg.model.width is None
        return
    assert prepared.model.width_in[0] == prepared.bundle.n_inputs
    assert prepared.model.grid == cfg.model.grid


@pytest.mark.parametrize("group", ["model", "grid", "regularization", "pipeline"])
def test_every_group_option_passes_the_checks(group):
    for option in group_options(group):
        overrides = [f"{group}={option}"]
        if option == "deep":
            overrides += ["dataset.function=deep_formula"]
        check_config(composed(*overrides))


def test_experiment_values_override_groups():
    cfg = composed("+experiment=hellokan")
    assert cfg.model.grid == 3 and cfg.pipeline.stages.sparsify.lamb == 0.001
    assert cfg.pipeline.stages.auto_symbolic.lib[:2] == ["x", "x^2"]
    assert composed("+experiment=hellokan", "model.grid=4").model.grid == 4


def test_regularization_presets_set_the_sparsify_stage():
    assert composed("regularization=strong").pipeline.stages.sparsify.lamb == 0.1
    assert composed("regularization=weak").pipeline.stages.sparsify.lamb == 0.001
    strong = composed("regularization=strong", "pipeline.stages.sparsify.steps=7")
    assert (strong.pipeline.stages.sparsify.steps, strong.pipeline.stages.sparsify.lamb) == (7, 0.1)


def test_old_regularization_overrides_are_rewritten_to_the_stage_key():
    argv = ["-m", "regularization.lamb=0.01,0.1", "+regularization.steps=3",
            "++regularization.lamb_l1=2", "~regularization.lr", "regularization=strong",
            "--cfg", "job", "hydra.run.dir=regularization.x"]
    assert translate_old_keys(argv) == [
        "-m", "pipeline.stages.sparsify.lamb=0.01,0.1", "+pipeline.stages.sparsify.steps=3",
        "++pipeline.stages.sparsify.lamb_l1=2", "~pipeline.stages.sparsify.lr",
        "regularization=strong", "--cfg", "job", "hydra.run.dir=regularization.x"]
    cfg = composed(*translate_old_keys(["regularization=strong", "regularization.steps=9"]))
    assert cfg.pipeline.stages.sparsify.steps == 9 and cfg.pipeline.stages.sparsify.lamb == 0.1
    assert unknown_override(["regularization=weak"]) is None  # a preset group, not a key
    assert "'pipeline.stages.sparsify.lamb'" in unknown_override(
        translate_old_keys(["regularization.lamdb=1"]))


def test_a_saved_config_with_the_old_regularization_node_still_runs():
    saved = OmegaConf.create({"regularization": {"lamb": 0.2, "steps": 4},
                              "pipeline": {"stages": {"sparsify": {"lamb": 0.01, "lr": 0.5}}},
                              "model": {"width": [2, 3, 1], "seed": "${seed}"}, "seed": 3})
    cfg = to_run_config(saved)
    sparsify = cfg.pipeline.stages.sparsify
    assert (sparsify.lamb, sparsify.steps, sparsify.lr) == (0.2, 4, 0.5)
    assert cfg.model.seed == 3
    with pytest.raises(RunConfigError, match="pipeline.stages.sparsify.lamdb"):
        to_run_config(OmegaConf.create({"regularization": {"lamdb": 0.2}}))


def test_grid_presets_set_the_grid_extend_stage():
    paper = composed("grid=paper").pipeline.stages.grid_extend
    assert paper.grids == [10, 20, 50, 100, 200, 500, 1000] and paper.steps == 200
    assert paper.optimizer == "LBFGS" and paper.update_grid is True  # the rest from default
    assert composed("grid=none").pipeline.stages.grid_extend.grids == []
    mixed = composed("grid=paper", "pipeline.stages.grid_extend.steps=7")
    assert (mixed.pipeline.stages.grid_extend.steps, mixed.pipeline.stages.grid_extend.grids[0]) \
        == (7, 10)
    # an experiment's `override /grid: paper`, then its own grids on top
    extension = composed("+experiment=grid_extension").pipeline.stages.grid_extend
    assert extension.grids == [5, 10, 20, 50, 100, 200, 500, 1000] and extension.steps == 200
    assert not hasattr(composed(), "grid")


def test_old_grid_overrides_are_rewritten_to_the_stage_key():
    argv = ["-m", "grid.grids=[3,5],[10,20]", "+grid.steps=3", "++grid.margin=0.05",
            "~grid.lr", "grid=paper", "model.grid=3", "model.grid_range=[-2,2]",
            "--cfg", "job", "hydra.run.dir=grid.x"]
    assert translate_old_keys(argv) == [
        "-m", "pipeline.stages.grid_extend.grids=[3,5],[10,20]",
        "+pipeline.stages.grid_extend.steps=3", "++pipeline.stages.grid_extend.margin=0.05",
        "~pipeline.stages.grid_extend.lr", "grid=paper", "model.grid=3",
        "model.grid_range=[-2,2]", "--cfg", "job", "hydra.run.dir=grid.x"]
    cfg = composed(*translate_old_keys(["grid=paper", "grid.steps=9", "grid.grids=[8,16]",
                                        "model.grid=4"]))
    extend = cfg.pipeline.stages.grid_extend
    assert (extend.steps, extend.grids, cfg.model.grid) == (9, [8, 16], 4)
    assert unknown_override(["grid=none"]) is None  # a preset group, not a key
    assert "'pipeline.stages.grid_extend.grids'" in unknown_override(
        translate_old_keys(["grid.gridz=[10]"]))


def test_a_saved_config_with_the_old_grid_node_still_runs():
    saved = OmegaConf.create({"grid": {"grids": [6, 12], "steps": 4},
                              "pipeline": {"stages": {"grid_extend": {"grids": [10], "lr": 0.5}}},
                              "model": {"width": [2, 3, 1], "grid": 3}})
    cfg = to_run_config(saved)
    extend = cfg.pipeline.stages.grid_extend
    assert (extend.grids, extend.steps, extend.lr, cfg.model.grid) == ([6, 12], 4, 0.5, 3)
    check_config(cfg)
    with pytest.raises(RunConfigError, match="pipeline.stages.grid_extend.gridz"):
        to_run_config(OmegaConf.create({"grid": {"gridz": [10]}}))


def test_dataset_ranges_override_with_integers():
    cfg = composed("dataset=formula", "dataset.ranges={x1:[0,1],x2:[-2,2]}")
    assert cfg.dataset.ranges == {"x1": [0, 1], "x2": [-2, 2]}


def test_added_unknown_keys_are_reported_with_the_closest_name():
    assert unknown_keys({"model": {"gird": 3, "grid": 3}, "sed": 1}) == [
        ("model.gird", "model.grid"), ("sed", "seed")]
    assert unknown_keys({"pipeline": {"stages": {"prune": {"edge_thr": 1}}}}) == [
        ("pipeline.stages.prune.edge_thr", "pipeline.stages.prune.edge_th")]
    node = OmegaConf.create({"model": {"gird": 3}})
    with pytest.raises(RunConfigError, match="unknown config key 'model.gird'. Did you mean "
                                             "'model.grid'"):
        to_run_config(node)


def test_saved_config_with_a_wrong_type_is_one_message():
    with pytest.raises(RunConfigError, match="invalid config: .*model.grid"):
        to_run_config(OmegaConf.create({"model": {"grid": "many"}}))


def test_dataset_schema_mirrors_dataset_config():
    assert DatasetSchema().n_train == 1000 and DatasetSchema().name == "toy"


def _extend(grids: list[int], **pipeline) -> PipelineConfig:
    """The default pipeline with the grid_extend stage's schedule ``grids``."""
    stages = StagesConfig(grid_extend=GridExtendStage(grids=grids))
    return PipelineConfig(stages=stages, **pipeline)


def _small() -> RunConfig:
    return RunConfig(dataset=DatasetSchema(n_train=50, n_test=50),
                     model=ModelConfig(width=[2, 3, 1], grid=3))


@pytest.mark.parametrize("change, message", [
    ({"pipeline": PipelineConfig(order=["train", "prun"])}, "Did you mean 'prune'"),
    ({"pipeline": PipelineConfig(order=["train", "train"])}, "appears twice"),
    ({"pipeline": PipelineConfig(order=[])}, "pipeline.order is empty"),
    ({"pipeline": _extend([2, 3])},
     r"every grid in pipeline.stages.grid_extend.grids=\[2, 3\] is <= model.grid"),
    ({"pipeline": PipelineConfig(keep_best="first")}, "keep_best must be one of auto"),
    ({"pipeline": _extend([6, 5])}, "pipeline.stages.grid_extend.grids must grow"),
    ({"model": ModelConfig(width=[2, 3, 1], grid=0)}, "model.grid must be at least 1"),
    ({"model": ModelConfig(width=[2, 3, 1], k=0)}, "model.k"),
    ({"model": ModelConfig(width=[2], grid=3)}, "model.width"),
    ({"model": ModelConfig(width=[2, 3, 1], grid_range=[1.0, -1.0])}, "model.grid_range"),
    ({"model": ModelConfig(width=[2, 3, 1], device="tpu9")}, "model.device"),
    ({"num_threads": 0}, "num_threads must be at least 1"),
    ({"dtype": "float16"}, "dtype must be one of float32, float64"),
])
def test_check_config_names_the_key(change, message):
    cfg = replace(_small(), **change)
    with pytest.raises(RunConfigError, match=message):
        check_config(cfg)


def test_grid_schedule_is_ignored_without_grid_extend():
    cfg = replace(_small(), pipeline=_extend([2], order=["train"]))
    check_config(cfg)


def test_fit_settings_are_checked_per_stage():
    cfg = _small()
    cfg.pipeline.stages.sparsify.optimizer = "SGD"
    message = "pipeline.stages.sparsify.optimizer must be one of LBFGS"
    with pytest.raises(RunConfigError, match=message):
        check_config(cfg)
    cfg = _small()
    cfg.pipeline.stages.fit_symbolic.lr = -1.0
    with pytest.raises(RunConfigError, match="pipeline.stages.fit_symbolic.lr"):
        check_config(cfg)
    cfg = _small()
    cfg.pipeline.stages.sparsify.lamb = -0.1
    with pytest.raises(RunConfigError, match="pipeline.stages.sparsify.lamb must be"):
        check_config(cfg)


def test_width_must_fit_the_dataset():
    cfg = replace(_small(), model=ModelConfig(width=[3, 3, 1], grid=3))
    with pytest.raises(RunConfigError, match=r"has 2 \(x1, x2\); set model.width=\[2,3,1\]"):
        prepare(cfg)
    cfg = replace(_small(), model=ModelConfig(width=[2, 3, 2], grid=3))
    with pytest.raises(RunConfigError, match="ends with 2 output"):
        prepare(cfg)


def test_dataset_errors_pass_through_unchanged():
    cfg = replace(_small(), dataset=DatasetSchema(name="formula", expr="x1+(", n_train=20))
    with pytest.raises(DatasetError, match="x1\\+\\("):
        prepare(cfg)


def test_prepare_builds_the_configured_model():
    cfg = _small()
    cfg.dtype = cfg.model.dtype = cfg.dataset.dtype = "float64"
    prepared = prepare(cfg)
    assert prepared.model.width == [[2, 0], [3, 0], [1, 0]]
    assert prepared.model.grid == 3 and str(prepared.model.dtype) == "torch.float64"
    assert prepared.bundle.data["train_input"].shape == (50, 2)


@pytest.mark.parametrize("overrides, expected", [
    ([], [[2, 0], [5, 0], [1, 0]]),  # no width: default_hidden between the data's ends
    (["model.hidden=[4,3]"], [[2, 0], [4, 0], [3, 0], [1, 0]]),
    (["model.hidden=[[3,2]]"], [[2, 0], [3, 2], [1, 0]]),
    (["model.width=[null,6,null]"], [[2, 0], [6, 0], [1, 0]]),
    (["dataset=feynman", "dataset.equation=I.12.4", "dataset.n_train=40",
      "dataset.n_test=40", "model.hidden=[5]"], [[3, 0], [5, 0], [1, 0]]),
    (["dataset=classification", "dataset.n_train=40", "dataset.n_test=40",
      "model.hidden=[3]"], [[2, 0], [3, 0], [2, 0]]),
])
def test_width_inferred_from_the_data(overrides, expected):
    assert prepare(composed(*overrides)).model.width == expected


@pytest.mark.parametrize("overrides, discovers", [
    (["dataset=feynman", "dataset.equation=I.12.4"], True),  # a law to find, no shape
    (["dataset=formula", "dataset.expr=x1*x2", "dataset.ranges={x1:[1,2],x2:[1,2]}"], True),
    (["dataset=formula", "dataset.expr=x1*x2", "dataset.ranges={x1:[1,2],x2:[1,2]}",
      "model.hidden=[3]"], False),
    ([], False),  # the embedded toy demo trains a KAN of the default shape
    (["dataset=feynman", "dataset.equation=I.12.4", "pipeline=numeric"], False),  # chosen
])
def test_no_shape_runs_discovery_for_datasets_whose_law_is_sought(overrides, discovers):
    prepared = prepare(composed(*overrides, "dataset.n_train=40", "dataset.n_test=40"))
    assert (prepared.model is None) is discovers


@pytest.mark.parametrize("overrides, message", [
    (["model.width=[5]"], r"set model.hidden=\[5\]"),
    (["model.width=[2,5,1]", "model.hidden=[5]"], "not both"),
    (["model.width=[2,null,1]"], "only its first and last"),
    (["model.hidden=[0]"], "model.hidden"),
])
def test_width_settings_that_cannot_work(overrides, message):
    with pytest.raises(RunConfigError, match=message):
        prepare(composed(*overrides))


def test_grids_not_above_the_initial_grid_are_skipped():
    cfg = replace(_small(), pipeline=_extend([3, 6, 12]))  # model.grid is 3
    assert prepare(cfg).cfg.pipeline.stages.grid_extend.grids == [6, 12]


def test_the_command_line_names_are_the_pipelines_own():
    from kanrun.cli import execute as cli_execute
    from kanrun.pipeline import execute as run

    assert cli_execute.execute is run.execute and cli_execute.to_run_config is run.to_run_config
    assert cli_execute.EXIT_BAD_INPUT == run.EXIT_BAD_INPUT == 2
