"""``cl_robust.analysis`` reads what it shares with evaluation from ``cl_robust.commands``, never from
``cl_robust.evaluation``: importing the analyze command loads no evaluation module."""
from __future__ import annotations

import subprocess
import sys


def test_the_analyze_command_imports_no_evaluation_module() -> None:
    code = ("import sys, cl_robust.analysis.command; "
            "print(sorted(name for name in sys.modules if name.startswith('cl_robust.evaluation')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
