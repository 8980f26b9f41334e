"""Datasets for KAN experiments: toy functions, the Feynman equations, special functions,
formula strings (parsed through a whitelist), the user's CSV tables and classification.

    from kanrun.data import load_dataset
    bundle = load_dataset({"name": "feynman", "equation": "I.6.20a"})
    bundle.data["train_input"], bundle.truth, bundle.input_names
"""

from kanrun.data.bundle import DatasetBundle, Normalization
from kanrun.data.classification import two_circles, two_moons
from kanrun.data.config import DatasetConfig, to_dataset_config
from kanrun.data.errors import DatasetError
from kanrun.data.evaluate import torch_function
from kanrun.data.feynman import FEYNMAN, FeynmanEquation, get_feynman, list_feynman
from kanrun.data.load import load_dataset
from kanrun.data.parse import parse_formula
from kanrun.data.recovery import recovered, round_constants
from kanrun.data.special import SPECIAL_FUNCTIONS, get_special, list_special
from kanrun.data.table import read_table
from kanrun.data.toy import TOY_FUNCTIONS, get_toy, list_toy

__all__ = [
    "DatasetBundle",
    "DatasetConfig",
    "DatasetError",
    "FEYNMAN",
    "FeynmanEquation",
    "Normalization",
    "SPECIAL_FUNCTIONS",
    "TOY_FUNCTIONS",
    "get_feynman",
    "get_special",
    "get_toy",
    "list_feynman",
    "list_special",
    "list_toy",
    "load_dataset",
    "parse_formula",
    "read_table",
    "recovered",
    "round_constants",
    "to_dataset_config",
    "torch_function",
    "two_circles",
    "two_moons",
]
