"""Output folders that cannot be written are refused in one line before anything is built or trained."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import CONFIGS, cli_in_process, error_lines, run_dir_args, tiny_args

SL = str(CONFIGS / "pretrain" / "sl.yaml")
STUDY_GRID = CONFIGS.parent / "study" / "smoke.yaml"


def _blocker(tmp_path: Path) -> Path:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    return blocker


@pytest.mark.parametrize(("option", "message"), [
    ("--checkpoint.dirpath", "checkpoint.dirpath: '{path}' goes through '{blocker}', which is a file"),
    ("--trainer.logger.init_args.save_dir", "trainer.logger.init_args.save_dir: '{path}' goes through"),
    ("--trainer.default_root_dir", "trainer.default_root_dir: '{path}' goes through"),
])
def test_fit_refuses_a_folder_below_a_file(option: str, message: str, synthetic_root: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    blocker = _blocker(tmp_path)
    path = blocker / "sub"
    args = run_dir_args(tmp_path / "run")
    args[args.index(option) + 1] = str(path)
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(synthetic_root), *args], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert message.format(path=path, blocker=blocker) in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written anywhere


def test_fit_refuses_a_checkpoint_folder_that_is_a_file(synthetic_root: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = _blocker(tmp_path)
    args = run_dir_args(tmp_path / "run")
    args[args.index("--checkpoint.dirpath") + 1] = str(blocker)
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(synthetic_root), *args], capsys)
    assert code == 2 and error_lines(err) == [
        f"cl-robust: error: checkpoint.dirpath: '{blocker}' is a file; give a folder (created if missing)"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to read-only folders")
def test_fit_refuses_a_read_only_folder(synthetic_root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, err = cli_in_process(["fit", "--config", SL, *tiny_args(synthetic_root), *run_dir_args(locked / "run")],
                                   capsys)
    finally:
        locked.chmod(0o700)
    assert code == 2 and "is read-only" in error_lines(err)[0]


@pytest.mark.parametrize("extra", [[], ["--report-only"]])
def test_study_refuses_an_output_that_is_a_file(extra: list[str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    blocker = _blocker(tmp_path)
    for output in (blocker, blocker / "out"):
        code, err = cli_in_process(["study", "--config", str(STUDY_GRID), "--output", str(output), *extra], capsys)
        lines = error_lines(err)
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
        assert lines[0].startswith(f"cl-robust: error: --output: '{output}' ")
    assert blocker.read_text() == "not a folder"
