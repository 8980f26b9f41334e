"""The SLURM path (+launcher=slurm over Hydra's submitit launcher) without a cluster: fake
`sbatch`, `srun`, `sacct` and `scancel` executables on PATH run the array tasks on this
machine, and the test checks the generated sbatch script and the runs' results."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

# One script installed under the four names; state (job counter, task states, a copy of
# each submitted script) lives in $FAKE_SLURM_DIR.
FAKE_SLURM = r'''
import os
import re
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_SLURM_DIR"])


def _state_file(job_id, task):
    return STATE / f"job_{job_id}_{task}.state"


def sbatch(argv):
    script = Path(argv[-1])
    text = script.read_text()
    counter = STATE / "counter"
    job_id = int(counter.read_text()) + 1 if counter.exists() else 1000
    counter.write_text(str(job_id))
    (STATE / f"sbatch_{job_id}.sh").write_text(text)
    array = re.search(r"^#SBATCH --array=0-(\d+)", text, re.M)
    tasks = int(array.group(1)) + 1 if array else 1
    for task in range(tasks):
        _state_file(job_id, task).write_text("PENDING")
    subprocess.Popen([sys.executable, __file__, "--run", str(script), str(job_id), str(tasks),
                      "1" if array else "0"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    print(f"Submitted batch job {job_id}")


def run(script, job_id, tasks, is_array):
    for task in range(int(tasks)):
        env = dict(os.environ, SLURM_JOB_ID=str(int(job_id) + task), SLURM_NTASKS="1",
                   SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0", SLURM_PROCID="0",
                   SLURM_LOCALID="0", SLURM_JOB_NODELIST="localhost")
        if is_array == "1":
            env.update(SLURM_ARRAY_JOB_ID=job_id, SLURM_ARRAY_TASK_ID=str(task))
        _state_file(job_id, task).write_text("RUNNING")
        code = subprocess.call(["bash", script], env=env)
        _state_file(job_id, task).write_text("COMPLETED" if code == 0 else "FAILED")


def srun(argv):
    env = os.environ
    job = (f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
           if "SLURM_ARRAY_JOB_ID" in env else env["SLURM_JOB_ID"])

    def expand(path):
        return (path.replace("%A", env.get("SLURM_ARRAY_JOB_ID", job))
                .replace("%a", env.get("SLURM_ARRAY_TASK_ID", "0"))
                .replace("%j", job).replace("%t", "0"))

    files = {}
    while argv and argv[0].startswith("--"):
        flag = argv.pop(0)
        if flag in ("--output", "--error"):
            files[flag] = expand(argv.pop(0))
    out = open(files.get("--output", os.devnull), "a")
    err = open(files["--error"], "a") if "--error" in files else out
    sys.exit(subprocess.call(argv, stdout=out, stderr=err))


def sacct(argv):
    wanted = {argv[i + 1] for i, a in enumerate(argv) if a == "-j"}
    print("JobID|State|NodeList")
    for path in sorted(STATE.glob("job_*.state")):
        _, job_id, task = path.stem.split("_")
        if job_id in wanted:
            print(f"{job_id}_{task}|{path.read_text().strip()}|localhost")


if __name__ == "__main__":
    name = Path(sys.argv[0]).name
    if sys.argv[1:2] == ["--run"]:
        run(*sys.argv[2:6])
    elif name == "sbatch":
        sbatch(sys.argv[1:])
    elif name == "srun":
        srun(sys.argv[1:])
    elif name == "sacct":
        sacct(sys.argv[1:])
    elif name == "scancel":
        pass
'''


def install_fake_slurm(tmp_path: Path) -> dict[str, str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm_state"
    bin_dir.mkdir()
    state.mkdir()
    for name in ("sbatch", "srun", "sacct", "scancel"):
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{FAKE_SLURM}")
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SLURM_DIR": str(state)}


def test_slurm_preset_with_fake_sbatch(kanrun_cli, tmp_path: Path):
    env = install_fake_slurm(tmp_path)
    local = tmp_path / "my_configs" / "local"  # like the git-ignored configs/local/slurm.yaml
    local.mkdir(parents=True)
    (local / "slurm.yaml").write_text(
        "# @package _global_\nhydra:\n  launcher:\n    account: my_group\n")
    sweep_dir = tmp_path / "sweep"
    result = kanrun_cli(
        "train", "-m", "--config-dir", tmp_path / "my_configs", "+experiment=smoke",
        "quiet=true", "+launcher=slurm", "num_threads=2", "hydra.launcher.partition=debug",
        "hydra.launcher.timeout_min=7", "model.width=[2,3,1],[3,3,1]",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, env=env, timeout=300)
    assert "Submitit 'slurm' sweep output dir" in result.stdout, result.stderr
    scripts = sorted((tmp_path / "slurm_state").glob("sbatch_*.sh"))
    assert len(scripts) == 1  # one array for the whole sweep
    script = scripts[0].read_text()
    for line in ("#SBATCH --array=0-1%2", "#SBATCH --cpus-per-task=2", "#SBATCH --time=7",
                 "#SBATCH --partition=debug", "#SBATCH --mem=4GB", "#SBATCH --account=my_group",
                 "export OMP_NUM_THREADS=2", "export MKL_NUM_THREADS=2"):
        assert line in script.splitlines(), f"{line!r} not in\n{script}"
    assert "srun --unbuffered" in script and "submitit.core._submit" in script

    report = kanrun_cli("report", sweep_dir, cwd=tmp_path, timeout=120)
    assert report.returncode == 0, report.stderr
    table = pd.read_csv(sweep_dir / "report" / "summary.csv", dtype={"model.width": str})
    status = dict(zip(table["model.width"], table["status"], strict=True))
    assert status == {"[2,3,1]": "completed", "[3,3,1]": "failed"}
    good = table[table["status"] == "completed"].iloc[0]
    assert good["test_rmse"] < 1e-2
    assert "model.width starts with 3 input(s)" in report.stdout
