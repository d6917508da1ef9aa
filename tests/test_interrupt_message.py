"""Ctrl-C in any command ends with one line saying how to continue, and exit status 130."""
from __future__ import annotations

from collections.abc import Sequence

import pytest

import cl_robust.cli as cli


def test_ctrl_c_in_a_command_is_one_line_with_status_130(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(argv: Sequence[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_command", lambda name: interrupted)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--checkpoint", "x.ckpt", "--output", "out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 130 and len(err) == 1
    assert err[0].startswith("cl-robust: interrupted; run the same command again to continue")
