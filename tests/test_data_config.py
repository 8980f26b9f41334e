"""DatasetConfig validation and the configs/dataset/*.yaml files."""

import dataclasses
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from kanrun.data import DatasetConfig, DatasetError, load_dataset, to_dataset_config

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "dataset"
YAMLS = sorted(CONFIG_DIR.glob("*.yaml"))


def test_defaults_are_the_documented_ones():
    config = DatasetConfig()
    assert (config.name, config.n_train, config.n_test, config.seed) == ("toy", 1000, 1000, 0)
    assert (config.noise, config.dtype, config.test_fraction) == (0.0, "float32", 0.2)
    assert config.normalize is False and config.function is None


def test_mapping_dictconfig_and_dataclass_are_accepted():
    from_dict = to_dataset_config({"name": "feynman", "equation": 5, "noise": 1})
    assert from_dict.equation == "5" and from_dict.noise == 1.0
    from_omegaconf = to_dataset_config(OmegaConf.create({"name": "special", "function": "jv"}))
    assert from_omegaconf.function == "jv"
    typed = OmegaConf.structured(DatasetConfig(name="formula", expr="x1"))
    assert to_dataset_config(typed).expr == "x1"
    assert to_dataset_config(DatasetConfig(seed=3)).seed == 3
    bundle = load_dataset(DatasetConfig(name="toy", function="sine", n_train=5, n_test=2))
    assert bundle.data["train_input"].shape == (5, 1)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"n_trian": 10}, ["n_trian", "Did you mean 'n_train'"]),
        ({"name": "mnist"}, ["mnist", "toy, feynman, special, formula, csv, classification"]),
        ({"n_train": "100"}, ["dataset.n_train", "integer", "'100'"]),
        ({"n_train": True}, ["dataset.n_train", "integer"]),
        ({"n_train": 0}, ["dataset.n_train", "at least 1"]),
        ({"seed": -1}, ["dataset.seed", "non-negative"]),
        ({"noise": -0.1}, ["dataset.noise", ">= 0"]),
        ({"test_fraction": 1.0}, ["dataset.test_fraction", "between 0 and 1"]),
        ({"normalize": "yes"}, ["dataset.normalize", "true/false"]),
        ({"inputs": "a"}, ["dataset.inputs", "list"]),
        ({"ranges": {"x1": ["a", 1]}}, ["dataset.ranges.x1[0]", "number"]),
        ({"ranges": [-1, 1]}, ["dataset.ranges", "mapping"]),
        ({"delimiter": ";;"}, ["dataset.delimiter", "single character"]),
    ],
)
def test_bad_options_get_one_clear_message(options, words):
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "toy", **options})
    assert isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value)


def test_not_a_mapping():
    with pytest.raises(DatasetError, match="mapping"):
        load_dataset(["toy"])


def test_every_dataset_yaml_fits_the_schema():
    assert {path.stem for path in YAMLS} == {
        "toy",
        "feynman",
        "special",
        "formula",
        "csv",
        "classification",
    }
    fields = {field.name for field in dataclasses.fields(DatasetConfig)}
    for path in YAMLS:
        loaded = OmegaConf.load(path)
        assert set(loaded) <= fields, path.name
        assert loaded.name == path.stem
        OmegaConf.merge(OmegaConf.structured(DatasetConfig), loaded)  # types check


@pytest.mark.parametrize("path", [p for p in YAMLS if p.stem != "csv"], ids=lambda p: p.stem)
def test_every_dataset_yaml_loads(path):
    config = OmegaConf.merge(OmegaConf.structured(DatasetConfig), OmegaConf.load(path))
    config.n_train, config.n_test = 20, 10
    bundle = load_dataset(config)
    assert bundle.data["train_input"].shape[0] == 20
    assert bundle.data["train_input"].dtype == torch.float32


def test_csv_yaml_requires_a_path(tmp_path):
    config = OmegaConf.merge(
        OmegaConf.structured(DatasetConfig), OmegaConf.load(CONFIG_DIR / "csv.yaml")
    )
    with pytest.raises(DatasetError, match="path"):
        load_dataset(config)
    data = tmp_path / "t.csv"
    data.write_text("a,y\n" + "".join(f"{i},{2 * i}\n" for i in range(10)))
    config.path = str(data)
    assert load_dataset(config).data["train_input"].shape == (8, 1)


def test_hydra_composes_the_group_with_overrides():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONFIG_DIR.parent), version_base=None):
        cfg = compose(overrides=["+dataset=feynman", "dataset.equation=1", "dataset.n_train=30"])
        formula = compose(
            overrides=[
                "+dataset=formula",
                "dataset.expr='x1*x3'",
                "dataset.ranges={x1:[-1,1],x3:[0,1]}",
            ]
        )
    bundle = load_dataset(cfg.dataset)
    assert bundle.input_names == ["theta"] and bundle.data["train_input"].shape == (30, 1)
    assert load_dataset(formula.dataset).input_names == ["x1", "x3"]
