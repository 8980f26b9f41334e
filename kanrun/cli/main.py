"""`kanrun`: dispatch to a subcommand (each a Hydra app or a small argparse program).

Shell completion: ``eval "$(kanrun -sc install=bash)"`` installs Hydra's completion for
`kanrun`; the shell then calls ``kanrun -sc query=bash`` with the command line in COMP_LINE,
and this dispatcher completes the subcommand name itself or hands the query, minus the
subcommand word, to that subcommand's Hydra app.
"""

from __future__ import annotations

import importlib
import os
import sys

from kanrun.common.suggest import did_you_mean

# name -> (module with main(argv) -> int, one-line help, Hydra app?)
COMMANDS = {
    "train": ("kanrun.cli.train", "fit a KAN through the staged pipeline (a Hydra app)", True),
    "resume": ("kanrun.cli.resume", "continue an interrupted run from its last completed stage",
               False),
    "report": ("kanrun.cli.report", "summarize sweeps: table, Pareto front, recovery tables",
               False),
    "figure": ("kanrun.cli.figure", "regenerate a KAN-paper figure (kanrun figure --list)",
               False),
    "benchmark": ("kanrun.cli.benchmark", "run the Feynman benchmark or our formula set "
                  "through discovery; recovery table", False),
}
COMPLETION_FLAGS = ("-sc", "--shell-completion")


def usage() -> str:
    lines = ["usage: kanrun COMMAND [ARGS...]", "",
             "Fast Kolmogorov-Arnold Networks, from data to formulas.", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    for name, (_, about, _) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {about}")
    lines += [
        "",
        "  kanrun train --help              config groups, options and examples",
        "  kanrun train                     the embedded default (about a minute on one core)",
        "  kanrun resume RUN_DIR            continue a stopped run",
        "",
        "other options:",
        "  -h, --help                       this message",
        "  --version                        the kanrun version",
        '  -sc install=bash                 shell completion: eval "$(kanrun -sc install=bash)"',
    ]
    return "\n".join(lines)


def _run(name: str, argv: list[str]) -> int:
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(argv) or 0)


def _completion_query(argv: list[str]) -> bool:
    return (len(argv) >= 2 and argv[0] in COMPLETION_FLAGS
            and argv[1].startswith("query"))


def _complete(argv: list[str]) -> int:
    """Answer a completion query for a `kanrun ...` command line (COMP_LINE)."""
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    new_word = line.endswith(" ")
    args = words[1:]
    if not args or (len(args) == 1 and not new_word):
        prefix = args[0] if args else ""
        print(" ".join(n for n in COMMANDS if n.startswith(prefix)))
        return 0
    name = args[0]
    if name not in COMMANDS or not COMMANDS[name][2]:
        print("")  # nothing to offer: the shell falls back to file names
        return 0
    rest = " ".join(args[1:]) + (" " if new_word and args[1:] else "")
    os.environ["COMP_LINE"] = f"{words[0]} {rest}"
    os.environ["COMP_POINT"] = str(len(os.environ["COMP_LINE"]))
    return _run(name, argv)


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # e.g. `kanrun train --help | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _dispatch(argv: list[str]) -> int:
    if _completion_query(argv):
        return _complete(argv)
    if argv and argv[0] in COMPLETION_FLAGS:  # install / uninstall: any Hydra app prints it
        return _run("train", argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from kanrun import __version__

        print(f"kanrun {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        hint = did_you_mean(name, COMMANDS)
        print(f"kanrun: unknown command '{name}'.{hint} Commands: {', '.join(COMMANDS)} "
              f"(kanrun --help)", file=sys.stderr)
        return 2
    return _run(name, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
