"""Tiny trained checkpoints shared by the evaluation tests (trained once per session)."""
import importlib.util
from pathlib import Path

import pytest


def load_tiny_checkpoints():  # noqa: ANN201
    """The helper module next to this file (tests are imported by path, not as a package)."""
    spec = importlib.util.spec_from_file_location("tiny_checkpoints", Path(__file__).with_name("tiny_checkpoints.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load_tiny_checkpoints()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny.synthetic_data(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="session")
def sl_checkpoint(data_root: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.supervised_checkpoint(data_root, tmp_path_factory.mktemp("sl"))


@pytest.fixture(scope="session")
def cl_finetuned_checkpoint(data_root: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.contrastive_finetuned_checkpoint(data_root, tmp_path_factory.mktemp("cl"))
