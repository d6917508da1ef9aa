"""``cl-robust --help`` lists every command with one line, and each command's own --help works."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cl_robust.cli import COMMANDS, EXTRA_COMMANDS, main


def test_help_lists_every_command_with_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "cl_robust.cli", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert listed == ["fit", "validate", "test", "evaluate", "analyze", "study"]
    assert set(EXTRA_COMMANDS) <= set(COMMANDS)
    for line in done.stdout.splitlines():
        if line.startswith("  "):
            assert len(line.split(maxsplit=1)[1]) > 20  # a real description, not a bare name


def test_no_command_prints_the_list_and_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "evaluate" in capsys.readouterr().out


def test_a_misspelt_command_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evalute", "--checkpoint", "x.ckpt"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err == [
        "cl-robust: error: unknown command 'evalute'; commands: fit, validate, test, evaluate, analyze, study "
        "(cl-robust --help)"]


@pytest.mark.parametrize("command", ["evaluate", "analyze", "study"])
def test_each_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0 and f"usage: cl-robust {command}" in capsys.readouterr().out


def test_fit_from_the_command_line_gives_no_warning_about_its_arguments() -> None:
    done = subprocess.run([sys.executable, "-m", "cl_robust.cli", "fit", "--print_config"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "args parameter" not in done.stderr
