"""Every `$ ...` console command in README.md runs as printed, through bash.

A `kanrun` shim on PATH runs the real command (``python -m kanrun.cli``) and, for `train`,
appends tiny settings (2 optimizer steps, 64 samples, no plots; 2 Optuna trials) so that
each run takes seconds: the test checks that the command line as printed (shell quoting,
brace expansion, Hydra parsing, config composition) works, not the results. Commands run
in README order in one shared folder (the report reads the sweeps before it). Commands
that need a cluster or hours are listed in SKIP with the reason and the test that covers
them; a README command that is in no list fails the test.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

TINY = ["pipeline.stages.train.steps=2", "pipeline.stages.sparsify.steps=2",
        "pipeline.stages.grid_extend.steps=2", "pipeline.stages.fit_symbolic.steps=2",
        "dataset.n_train=64", "dataset.n_test=64",
        "pipeline.plots=false", "pipeline.recovery_seconds=2"]

# command prefix -> why it is not run here
SKIP = {
    "kanrun train -m +launcher=slurm": "needs SLURM (tests/test_sweep_slurm.py runs this "
                                       "path with a fake sbatch)",
    "kanrun figure feynman --jobs 2": "hours on 2 cores (tests/test_figures*.py run the "
                                      "figures' quick variants)",
    "make figures": "hours on 2 cores",
    "python scripts/figures_doc.py": "needs the full figures' results",
}
# command prefixes run only in the slow suite (each takes 30 s to 4 min here)
# ("kanrun train  ": the bare default run, padded before its comment; tests/test_cli.py
# runs it too)
SLOW = ("kanrun train  ", "kanrun figure grid_extension --quick",
        "kanrun train -m +launcher=local", "kanrun train -m hydra/launcher=submitit_local",
        "kanrun train -m +hparams_search", "kanrun train -m seed=0,1,2", "kanrun report")

SHIM = f"""#!{sys.executable}
import os, sys
args = sys.argv[1:]
if args[:1] == ["train"] and "--cfg" not in args:
    args += {TINY!r}
    if any(a.startswith("+hparams_search") for a in args):
        args.append("hydra.sweeper.n_trials=2")
os.execv(sys.executable, [sys.executable, "-m", "kanrun.cli", *args])
"""


def readme_commands() -> list[tuple[str, str]]:
    """(command, heredoc body or '') for each `$ ` line of the README's console blocks."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        lines = block.splitlines()
        k = 0
        while k < len(lines):
            line = lines[k]
            k += 1
            if not line.startswith("$ "):
                continue  # printed output
            command = line[2:]
            body = []
            heredoc = re.search(r"<<'(\w+)'", command)
            if heredoc:
                while lines[k] != heredoc.group(1):
                    body.append(lines[k])
                    k += 1
                k += 1
            commands.append((command, "\n".join(body)))
    return commands


def _kind(command: str) -> str:
    if any(command.startswith(p) for p in SKIP):
        return "skip"
    return "slow" if any(command.startswith(p) for p in SLOW) else "fast"


def _params():
    out = []
    for command, body in readme_commands():
        kind = _kind(command)
        marks = [pytest.mark.slow] if kind == "slow" else []
        if kind == "skip":
            reason = next(r for p, r in SKIP.items() if command.startswith(p))
            marks = [pytest.mark.skip(reason=reason)]
        out.append(pytest.param(command, body, marks=marks, id=command[:60]))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "kanrun"
    shim.write_text(SHIM)
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    cwd = root / "work"
    cwd.mkdir()
    rows = ["a,b,c,y"] + [f"{i / 50:.3f},{(i * 7 % 50) / 50:.3f},{(i * 13 % 50) / 50:.3f},"
                          f"{(i / 50) * 2 + (i * 7 % 50) / 50:.4f}" for i in range(100)]
    (cwd / "data.csv").write_text("\n".join(rows) + "\n")
    return cwd, bin_dir


def test_every_readme_command_is_classified():
    commands = [c for c, _ in readme_commands()]
    assert len(commands) >= 15
    kanrun = [c for c in commands if c.startswith("kanrun")]
    assert sum(_kind(c) == "fast" for c in kanrun) >= 6
    for prefix in (*SKIP, *SLOW):
        assert any(c.startswith(prefix) for c in commands), f"stale entry {prefix!r}"


@pytest.mark.parametrize("command, body", _params())
def test_readme_command_runs_as_printed(command, body, workdir):
    cwd, bin_dir = workdir
    script = command
    if body:
        script = "\n".join([command, body, re.search(r"<<'(\w+)'", command).group(1)])
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update({"PATH": f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
                "OMP_NUM_THREADS": "1", "COLUMNS": "120"})
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    words = command.split()
    if words[:2] == ["kanrun", "train"] and "--cfg" not in words and "-m" not in words:
        assert "run folder: " in proc.stderr.splitlines()[-1]
        assert "run completed" in proc.stderr
    if "--cfg" in words:
        assert "model:" in proc.stdout and "width" in proc.stdout
