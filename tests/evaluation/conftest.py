"""Tiny trained checkpoints shared by the evaluation and analysis tests (trained once per test run)."""
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


def load_tiny_checkpoints() -> ModuleType:
    """The helper module next to this file (tests are imported by path, not as a package)."""
    spec = importlib.util.spec_from_file_location("tiny_checkpoints", Path(__file__).with_name("tiny_checkpoints.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load_tiny_checkpoints()


@pytest.fixture(scope="session")
def data_root(build_once: Callable) -> str:
    return tiny.shared_data(build_once)


@pytest.fixture(scope="session")
def sl_checkpoint(build_once: Callable) -> Path:
    return tiny.shared_supervised_checkpoint(build_once)


@pytest.fixture(scope="session")
def cl_finetuned_checkpoint(build_once: Callable) -> Path:
    return tiny.shared_contrastive_finetuned_checkpoint(build_once)
