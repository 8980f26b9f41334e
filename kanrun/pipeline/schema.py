"""The typed schema of a `kanrun train` config, registered in Hydra's ConfigStore.

Hydra merges every config file and command-line override onto these dataclasses, so a
misspelled key or a value of the wrong type stops the composition with one message that
names the key. Checks that need more than a type (a width that fits the data, a grid
schedule that grows) live in :mod:`kanrun.pipeline.validate`.

Layout of the composed config::

    dataset         kanrun.data.DatasetConfig (group `dataset`)
    model           ModelConfig               (group `model`)
    pipeline        PipelineConfig            (group `pipeline`: stage order + settings;
                                               pipeline.stages.sparsify is set by the
                                               preset group `regularization`,
                                               pipeline.stages.grid_extend by `grid`)
    seed, num_threads, dtype, quiet           (global keys)
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from typing import Any, List, Optional

from kanrun.data import DatasetConfig
from kanrun.kan.spec import KANSpec

STAGE_NAMES = ("train", "sparsify", "prune", "grid_extend", "auto_symbolic", "fit_symbolic")
OPTIMIZERS = ("LBFGS", "Adam")
DTYPES = ("float32", "float64")  # of kanrun.common.dtypes.DTYPES, those a run accepts


# The `model` group: the fields of kanrun.kan.spec.KANSpec (names, types, pykan's defaults),
# except where a run differs (below), plus `hidden` and `device`. validate.model_spec turns
# it into a KANSpec, whose checks are the model's checks.
MODEL_FIELDS: dict[str, tuple[Any, Any]] = {  # name: (type, default), for KANSpec's Any fields
    # full shape [n_in, ..., n_out] (entries n or [n_sum, n_mult]; null ends: from the data),
    # or null: [n_in, *hidden, n_out] with n_in and n_out taken from the dataset
    "width": (Optional[List[Any]], None),
    "hidden": (Optional[List[Any]], None),  # hidden layers only (with width null)
    "grid": (int, 5),  # initial number of grid intervals (a KAN's own default is 3)
    "mult_arity": (Any, 2),  # int, or one list of arities per layer
    "grid_range": (List[float], [-1.0, 1.0]),
    "seed": (int, 0),  # follows the global seed (train.yaml)
    "dtype": (str, "float32"),  # follows the global dtype (train.yaml)
}
MODEL_EXTRA = {"device": (Optional[str], None)}  # None: cpu; e.g. cuda, cuda:1


def _model_schema() -> type:
    hints = typing.get_type_hints(KANSpec)
    spec = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(KANSpec)}
    names = ["width", "hidden", *[name for name in spec if name != "width"], *MODEL_EXTRA]
    table = {**spec, **MODEL_FIELDS, **MODEL_EXTRA}
    fields = [(name, table[name][0], _default(table[name][1])) for name in names]
    schema = dataclasses.make_dataclass("ModelConfig", fields)
    schema.__module__ = __name__
    schema.__doc__ = ("Arguments of :class:`kanrun.kan.spec.KANSpec` (the model), with the "
                      "run's defaults, plus hidden and device.")
    return schema


def _default(value):
    if isinstance(value, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(value))
    return field(default=value)


ModelConfig = _model_schema()


@dataclass
class FitSettings:
    """Optimizer settings shared by every stage that trains (see KAN.fit)."""

    steps: int = 20
    optimizer: str = "LBFGS"  # LBFGS | Adam
    lr: float = 1.0
    batch: int = -1  # -1: full batch
    update_grid: bool = True
    grid_update_num: int = 10
    stop_grid_update_step: int = 50


@dataclass
class TrainStage(FitSettings):
    """`train`: plain fit of the initial model."""

    steps: int = 30


@dataclass
class SparsifyStage(FitSettings):
    """`sparsify`: fit with the L1 + entropy penalty so pruning has something to cut
    (presets: regularization=weak|default|strong)."""

    steps: int = 30
    lamb: float = 0.01
    lamb_l1: float = 1.0
    lamb_entropy: float = 2.0
    lamb_coef: float = 0.0
    lamb_coefdiff: float = 0.0


@dataclass
class GridExtendStage(FitSettings):
    """`grid_extend`: refine to each grid in turn (each larger than model.grid), then fit
    (presets: grid=default|none|paper)."""

    grids: List[int] = field(default_factory=lambda: [10, 20])
    steps: int = 20  # per grid
    margin: Optional[float] = None  # KAN.refine margin (fraction of the data range)


@dataclass
class PruneStage:
    """`prune`: drop nodes and edges whose attribution is below the thresholds."""

    node_th: float = 1e-2
    edge_th: float = 3e-2


@dataclass
class AutoSymbolicStage:
    """`auto_symbolic`: replace each spline edge by the best library function."""

    lib: Optional[List[str]] = None  # None: the whole symbolic library
    weight_simple: float = 0.8  # greedy method only
    r2_threshold: float = 0.0  # greedy method only
    method: str = "search"  # search (whole-formula beam search) | greedy (pykan's rule)
    topk: int = 3  # candidates per edge in the search
    beam_width: int = 2
    seconds: float = 30.0  # soft time limit of the search


@dataclass
class FitSymbolicStage(FitSettings):
    """`fit_symbolic`: refit the affine parameters of the symbolic edges."""

    steps: int = 20
    update_grid: bool = False


@dataclass
class StagesConfig:
    """Settings of every stage (`pipeline.stages.NAME.KEY`)."""

    train: TrainStage = field(default_factory=TrainStage)
    sparsify: SparsifyStage = field(default_factory=SparsifyStage)
    prune: PruneStage = field(default_factory=PruneStage)
    grid_extend: GridExtendStage = field(default_factory=GridExtendStage)
    auto_symbolic: AutoSymbolicStage = field(default_factory=AutoSymbolicStage)
    fit_symbolic: FitSymbolicStage = field(default_factory=FitSymbolicStage)


@dataclass
class DiscoverSettings:
    """`discover` (pipeline=discover, or no model.width): search the formula from the data."""

    budget: float = 60.0  # CPU seconds per run (split over the outputs); the best so far is kept
    snap: bool = True  # snap constants to simple values when the holdout error allows
    kan: bool = False  # with time left and nothing exact: the smallest fitting KAN, auto_symbolic


@dataclass
class PipelineConfig:
    """Which stages run, in which order, and what the run writes."""

    order: List[str] = field(default_factory=lambda: list(STAGE_NAMES))
    stages: StagesConfig = field(default_factory=StagesConfig)
    discover: DiscoverSettings = field(default_factory=DiscoverSettings)
    formula_digits: int = 4  # significant digits of the exported formula's constants
    recovery_seconds: float = 10.0  # time bound of the "formula equals the truth" check
    formula_search: bool = True  # joint refit + exact constants + Pareto front (formulas.csv)
    # the search also tries products of powers fitted to the data (kanrun.kan.symbolic.
    # products); false: the network's structure only (and its inputs' monomial)
    formula_templates: bool = True
    plots: bool = True  # write plots/ (network diagrams, loss and grid curves)
    log_every: int = 10  # plain display: one line every N optimizer steps
    # the model the run ends with: auto (the best stage's when a sparsify/prune loss was
    # not recovered by the end), best (the best stage's whenever it beats the last), last
    keep_best: str = "auto"
    worse_factor: float = 3.0  # a stage multiplying the test error by this much is flagged


def _loosen(annotation: Any) -> Any:
    """Types OmegaConf can hold. It cannot convert values inside nested containers
    (Dict[str, List[float]] rejects [0, 1]), nor merge a mapping into a null
    Optional[Dict] (an override `dataset.ranges={x1:[0,1]}` crashes); such fields become
    Any here and to_dataset_config checks them with its own messages."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(inner[0]) in (dict, typing.Dict):
            return Any
        return Optional[_loosen(inner[0])]
    if origin in (dict, typing.Dict):
        key, value = typing.get_args(annotation)
        nested = typing.get_origin(value) in (list, dict, typing.List, typing.Dict)
        return typing.Dict[key, Any] if nested else annotation
    if origin in (list, typing.List):
        (item,) = typing.get_args(annotation)
        nested = typing.get_origin(item) in (list, dict, typing.List, typing.Dict)
        return typing.List[Any] if nested else annotation
    return annotation


def _dataset_schema() -> type:
    hints = typing.get_type_hints(DatasetConfig)
    fields = []
    for f in dataclasses.fields(DatasetConfig):
        default = (
            {"default": f.default} if f.default is not dataclasses.MISSING
            else {"default_factory": f.default_factory}
        )
        fields.append((f.name, _loosen(hints[f.name]), field(**default)))
    schema = dataclasses.make_dataclass("DatasetSchema", fields)
    schema.__module__ = __name__
    schema.__doc__ = "DatasetConfig with nested containers left for to_dataset_config to check."
    return schema


DatasetSchema = _dataset_schema()


@dataclass
class RunConfig:
    """A whole `kanrun train` run."""

    dataset: DatasetSchema = field(default_factory=DatasetSchema)  # type: ignore[valid-type]
    model: ModelConfig = field(default_factory=ModelConfig)  # type: ignore[valid-type]
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    seed: int = 0  # model initialization and minibatch order (dataset.seed draws the data)
    num_threads: int = 1  # torch.set_num_threads
    dtype: str = "float32"  # float32 | float64, for the data and the model
    quiet: bool = False  # plain log lines instead of the live display


def unknown_keys(values: dict, schema: type = None, prefix: str = "") -> list[tuple[str, str]]:
    """Keys of ``values`` (a plain nested dict) that ``schema`` lacks, as (key, closest).

    Hydra lets `+key=value` add keys even to a structured config; they would be ignored.
    """
    schema = RunConfig if schema is None else schema
    hints = typing.get_type_hints(schema)
    found = []
    for key, value in values.items():
        if key not in hints:
            close = difflib.get_close_matches(str(key), list(hints), n=1)
            found.append((f"{prefix}{key}", f"{prefix}{close[0]}" if close else ""))
        elif dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            found += unknown_keys(value, hints[key], f"{prefix}{key}.")
    return found


SCHEMA_NAME = "train_schema"


def register_configs() -> None:
    """Store the schema under ``train_schema`` (the first entry of train.yaml's defaults)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=RunConfig)
