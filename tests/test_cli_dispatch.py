"""The dispatcher and `kanrun resume` argument handling, in-process (no runs)."""

from __future__ import annotations

import json
import os

import pytest

from kanrun.cli import main as cli


def test_help_lists_the_subcommands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: kanrun COMMAND")
    for name in ("train", "resume"):
        assert f"\n  {name} " in out


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: kanrun COMMAND" in capsys.readouterr().err


def test_unknown_command_suggests_the_closest(capsys):
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'. Did you mean 'train'?" in capsys.readouterr().err


def test_version(capsys):
    from kanrun import __version__

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kanrun {__version__}"


@pytest.mark.parametrize("line, words", [
    ("kanrun ", ["train", "resume", "report", "figure", "benchmark"]),
    ("kanrun re", ["resume", "report"]),
    ("kanrun res", ["resume"]),
    ("kanrun fi", ["figure"]),
    ("kanrun resume ", []),
])
def test_completion_of_subcommand_names(monkeypatch, capsys, line, words):
    monkeypatch.setenv("COMP_LINE", line)
    assert cli.main(["-sc", "query=bash"]) == 0
    assert capsys.readouterr().out.split() == words


def test_completion_hands_the_rest_of_the_line_to_the_subcommand(monkeypatch):
    seen = {}

    def fake_run(name, argv):
        seen.update(name=name, argv=argv, line=os.environ["COMP_LINE"])
        return 0

    monkeypatch.setenv("COMP_LINE", "kanrun train model.grid=3 mod")
    monkeypatch.setattr(cli, "_run", fake_run)
    assert cli.main(["-sc", "query=bash"]) == 0
    assert seen == {"name": "train", "argv": ["-sc", "query=bash"],
                    "line": "kanrun model.grid=3 mod"}


def test_resume_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path / "nope")]) == 2
    assert "no folder" in capsys.readouterr().err
    assert cli.main(["resume", str(tmp_path)]) == 2
    assert "is not a kanrun run folder (it has no .hydra/config.yaml)" in capsys.readouterr().err


def test_resume_of_a_completed_run_does_nothing(tmp_path, capsys):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "completed"}))
    assert cli.main(["resume", str(tmp_path)]) == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra", "metrics.json"]


def test_train_help_lists_groups_and_examples(capsys):
    from kanrun.cli import train

    with pytest.raises(SystemExit) as done:
        train.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("kanrun train: fit a KAN to a dataset")
    for line in ("experiment: deep_formula, default, feynman, grid_extension, hellokan, smoke",
                 "model: deep, default", "pipeline: default, discover, grid_extension, numeric",
                 "kanrun train +experiment=feynman", "order:"):
        assert line in out, line
