"""The staged pipeline behind `kanrun train`: config schema, checks, stages, run folder.

    prepared = prepare(run_config)            # checks, dataset, initial model; writes nothing
    outcome = run_pipeline(prepared, run_dir, PlainDisplay())
"""

from .display import PlainDisplay, RichDisplay, make_display
from .errors import RunConfigError, RunInterrupted, StageFailed, StageSkipped
from .runner import RunOutcome, run_pipeline
from .schema import RunConfig, register_configs
from .stages import STAGES
from .validate import Prepared, check_config, prepare

__all__ = [
    "PlainDisplay", "Prepared", "RichDisplay", "RunConfig", "RunConfigError", "RunInterrupted",
    "RunOutcome", "STAGES", "StageFailed", "StageSkipped", "check_config", "make_display",
    "prepare", "register_configs", "run_pipeline",
]
