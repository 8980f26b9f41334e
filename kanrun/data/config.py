"""`DatasetConfig`: the typed schema of the `dataset` config group, and its validation.

Every dataset (`toy`, `feynman`, `special`, `formula`, `csv`, `classification`) reads the
fields it needs from one flat `DatasetConfig`; fields a dataset does not use are ignored.
The types are plain (str, int, float, bool, Optional, List, Dict) so the dataclass can be
registered as a Hydra structured-config schema.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from kanrun.common.suggest import did_you_mean
from kanrun.data.errors import DatasetError

DATASET_NAMES = ("toy", "feynman", "special", "formula", "csv", "classification")
DTYPES = ("float32", "float64")


@dataclass
class DatasetConfig:
    """Options of every dataset; see each field's comment for who reads it.

    Randomness: inputs, noise and the CSV split are drawn from generators seeded by
    `seed` (one independent stream each), so the test set does not change when
    `n_train` does and a smaller training set is a prefix of a larger one.

    `noise` adds Gaussian noise of standard deviation `noise * RMS(clean train target)`
    (per output; SRBench's definition) to the train AND the test targets (regression); for the
    `moons`/`circles` classification toys it is instead the absolute standard deviation
    of Gaussian jitter added to the 2-d points.
    """

    name: str = "toy"  # toy | feynman | special | formula | csv | classification
    function: Optional[str] = None  # toy (default hellokan) / special function name
    equation: Optional[str] = None  # feynman: name ("I.6.20a") or id ("1")
    expr: Optional[str] = None  # formula: expression over the variables of `ranges`
    ranges: Optional[Dict[str, List[float]]] = None  # per variable [low, high]
    default_range: Optional[List[float]] = None  # range of variables not in `ranges`
    path: Optional[str] = None  # csv / classification kind=csv: the data file
    test_path: Optional[str] = None  # optional separate test file (same columns)
    inputs: Optional[List[str]] = None  # csv input columns (default: all but targets)
    targets: Optional[List[str]] = None  # csv regression target columns (default: last)
    target: Optional[str] = None  # csv class column (classification), or one target
    kind: Optional[str] = None  # classification: moons (default) | circles | csv
    delimiter: str = ","  # csv field separator
    test_fraction: float = 0.2  # csv: share of shuffled rows held out for testing
    normalize: bool = False  # csv: standardize inputs (and regression targets)
    n_train: int = 1000  # sampled datasets: number of training points
    n_test: int = 1000  # sampled datasets: number of test points
    seed: int = 0
    noise: float = 0.0
    dtype: str = "float32"  # float32 | float64


_FIELD_TYPES = typing.get_type_hints(DatasetConfig)
_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(DatasetConfig))


def to_dataset_config(cfg: Any) -> DatasetConfig:
    """Turn a Mapping, an OmegaConf DictConfig or a dataclass into a checked DatasetConfig.

    Raises DatasetError for an unknown key (with the closest valid one), a value of the
    wrong type, or an out-of-range option.
    """
    values = _as_dict(cfg)
    unknown = [key for key in values if key not in _FIELD_NAMES]
    if unknown:
        key = unknown[0]
        hint = did_you_mean(key, _FIELD_NAMES)
        raise DatasetError(
            f"unknown dataset option '{key}'.{hint} Valid options: {', '.join(_FIELD_NAMES)}."
        )
    checked = {key: _check_type(key, value, _FIELD_TYPES[key]) for key, value in values.items()}
    config = DatasetConfig(**checked)
    _check_values(config)
    return config


def _as_dict(cfg: Any) -> dict:
    if isinstance(cfg, DatasetConfig):
        return dataclasses.asdict(cfg)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    try:
        from omegaconf import DictConfig, OmegaConf
        from omegaconf.errors import MissingMandatoryValue
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        DictConfig = None
    if DictConfig is not None and isinstance(cfg, DictConfig):
        try:
            container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        except MissingMandatoryValue as error:
            key = getattr(error, "full_key", None) or "a value"
            raise DatasetError(
                f"dataset option {key} is required ('???' in the config); set it, "
                f"e.g. dataset.path=data.csv"
            ) from None
        return dict(container)
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise DatasetError(
        f"a dataset config must be a mapping, a DictConfig or a DatasetConfig, "
        f"got {type(cfg).__name__}"
    )


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return f"{_type_name(inner[0])} or null"
    if origin in (list, List):
        return f"a list of {_type_name(typing.get_args(annotation)[0])}"
    if origin in (dict, Dict):
        key, value = typing.get_args(annotation)
        return f"a mapping of {_type_name(key)} to {_type_name(value)}"
    return {str: "text", int: "an integer", float: "a number", bool: "true/false"}.get(
        annotation, str(annotation)
    )


def _check_type(key: str, value: Any, annotation: Any, where: str = "") -> Any:
    """Return `value` converted to the annotated type, or raise DatasetError."""
    label = f"dataset.{key}{where}"
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        if value is None:
            return None
        inner = [a for a in typing.get_args(annotation) if a is not type(None)][0]
        return _check_type(key, value, inner, where)
    wrong = DatasetError(
        f"{label} must be {_type_name(annotation)}, got {value!r} ({type(value).__name__})"
    )
    if origin in (list, List):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise wrong
        item_type = typing.get_args(annotation)[0]
        return [_check_type(key, item, item_type, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, Mapping):
            raise wrong
        _, value_type = typing.get_args(annotation)
        return {str(k): _check_type(key, v, value_type, f"{where}.{k}") for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if annotation is str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise wrong
        return str(value)
    return value  # pragma: no cover - every field type is handled above


def _check_values(config: DatasetConfig) -> None:
    if config.name not in DATASET_NAMES:
        raise DatasetError(
            f"unknown dataset name '{config.name}'; set dataset.name to one of "
            f"{', '.join(DATASET_NAMES)}"
        )
    if config.dtype not in DTYPES:
        raise DatasetError(
            f"dataset.dtype must be one of {', '.join(DTYPES)}, got '{config.dtype}'"
        )
    for key in ("n_train", "n_test"):
        if getattr(config, key) < 1:
            raise DatasetError(f"dataset.{key} must be at least 1, got {getattr(config, key)}")
    if config.seed < 0:
        raise DatasetError(f"dataset.seed must be a non-negative integer, got {config.seed}")
    if not (math.isfinite(config.noise) and config.noise >= 0):
        raise DatasetError(f"dataset.noise must be a finite number >= 0, got {config.noise}")
    if not 0.0 < config.test_fraction < 1.0:
        raise DatasetError(
            f"dataset.test_fraction must be strictly between 0 and 1, got {config.test_fraction}"
        )
    if len(config.delimiter) != 1:
        raise DatasetError(
            f"dataset.delimiter must be a single character, got {config.delimiter!r}"
        )
