"""Shared by the analysis tests: the tiny checkpoints the evaluation tests also train."""
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoints() -> ModuleType:
    """``tests/evaluation/tiny_checkpoints.py`` as a module (synthetic data, tiny trained checkpoints)."""
    path = Path(__file__).resolve().parents[1] / "evaluation" / "tiny_checkpoints.py"
    spec = importlib.util.spec_from_file_location("tiny_checkpoints", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
