"""`load_dataset(cfg)`: one entry point from a dataset config to a DatasetBundle."""

from __future__ import annotations

from typing import Any

from kanrun.data.bundle import DatasetBundle
from kanrun.data.classification import load_classification
from kanrun.data.config import to_dataset_config
from kanrun.data.feynman import load_feynman
from kanrun.data.formula import load_formula
from kanrun.data.special import load_special
from kanrun.data.tabular import load_csv
from kanrun.data.toy import load_toy

LOADERS = {
    "toy": load_toy,
    "feynman": load_feynman,
    "special": load_special,
    "formula": load_formula,
    "csv": load_csv,
    "classification": load_classification,
}


def load_dataset(cfg: Any) -> DatasetBundle:
    """Build the dataset described by `cfg` (a Mapping, DictConfig or DatasetConfig).

    `cfg.name` selects toy | feynman | special | formula | csv | classification; see
    DatasetConfig for the options. Raises DatasetError (a ValueError) with one clear
    message for any bad option, formula or file.
    """
    config = to_dataset_config(cfg)
    return LOADERS[config.name](config)
