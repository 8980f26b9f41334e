"""`kanrun resume RUN_DIR`: continue an interrupted run from its last completed stage.

The run's own config (RUN_DIR/.hydra/config.yaml) and checkpoints are used, so the
results equal those of an uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import logging.config
import sys
from pathlib import Path

from kanrun.cli.execute import EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanrun resume",
        description="Continue an interrupted kanrun run (Ctrl-C, SIGTERM, crash) from its "
                    "last completed stage, with the config and checkpoints in its folder.")
    parser.add_argument("run_dir", help="the run folder (the one holding .hydra/ and run.log)")
    parser.add_argument("--quiet", action="store_true",
                        help="plain log lines instead of the live display")
    return parser


def _configure_logging(run_dir: Path) -> None:
    logging.config.dictConfig({
        "version": 1,
        "formatters": {
            "console": {"format": "%(message)s"},
            "file": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "console",
                        "stream": "ext://sys.stderr"},
            "file": {"class": "logging.FileHandler", "formatter": "file",
                     "filename": str(run_dir / "run.log")},
        },
        "root": {"level": "INFO", "handlers": ["console", "file"]},
        "disable_existing_loggers": False,
    })


def _fail(message: str) -> int:
    print(f"kanrun resume: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    config_path = run_dir / ".hydra" / "config.yaml"
    if not run_dir.is_dir():
        return _fail(f"no folder {run_dir}")
    if not config_path.is_file():
        return _fail(f"{run_dir} is not a kanrun run folder (it has no .hydra/config.yaml)")
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        try:
            status = json.loads(metrics_path.read_text()).get("status")
        except (OSError, ValueError):
            status = None
        if status == "completed":
            print(f"{run_dir} is complete; nothing to resume", file=sys.stderr)
            return 0
    from omegaconf import OmegaConf

    from kanrun.pipeline.execute import execute

    node = OmegaConf.load(config_path)
    if args.quiet:
        node.quiet = True
    _configure_logging(run_dir)
    code, _ = execute(node, run_dir, resume=True)
    return code
