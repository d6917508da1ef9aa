"""Shared test settings: no network logging, few threads, deterministic seeds."""
import os

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_configure(config: pytest.Config) -> None:
    """The third-party warnings ``cl-robust`` silences as harmless (each with why, in cl_robust/commands/quiet.py)
    stay out of the test report too: the tests drive Lightning directly, without the command's filters."""
    import re

    from cl_robust.commands.quiet import HARMLESS_PATTERNS, HARMLESS_WARNINGS

    for message, _ in HARMLESS_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{re.escape(message)}")
    for pattern, _, _ in HARMLESS_PATTERNS:
        config.addinivalue_line("filterwarnings", f"ignore:{pattern}")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def real_cifar_root() -> str:
    """Root of a real CIFAR subset (image-folder layout), from CL_ROBUST_TEST_DATA; skips when unset."""
    root = os.environ.get("CL_ROBUST_TEST_DATA")
    if not root or not os.path.isdir(root):
        pytest.skip("CL_ROBUST_TEST_DATA is not set to a real CIFAR subset")
    return root


def _write_reordered_copy(root: str, destination: str, seed: int = 1) -> str:
    """A copy of a torchvision-layout CIFAR-10 under ``root`` whose batch files hold the images in another order."""
    import pickle
    from pathlib import Path

    source, target = Path(root) / "cifar-10-batches-py", Path(destination) / "cifar-10-batches-py"
    target.mkdir(parents=True)
    for file in source.iterdir():
        if file.name == "batches.meta":
            (target / file.name).write_bytes(file.read_bytes())
            continue
        entry = pickle.loads(file.read_bytes(), encoding="latin1")
        permutation = torch.randperm(len(entry["labels"]), generator=torch.Generator().manual_seed(seed)).tolist()
        entry["data"] = entry["data"][permutation]
        entry["labels"] = [entry["labels"][i] for i in permutation]
        (target / file.name).write_bytes(pickle.dumps(entry))
    return destination


@pytest.fixture(scope="session")
def reordered_copy():  # noqa: ANN201
    """``reordered_copy(root, destination)``: the same CIFAR-10 images stored in another order."""
    return _write_reordered_copy


def user_model_folders() -> list[str]:
    """``tests/support`` (``user_models``) and ``examples`` (``own_model``, which ``user_models`` imports)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    return [str(here / "support"), str(here.parent / "examples")]


@pytest.fixture
def user_models(monkeypatch: pytest.MonkeyPatch) -> str:
    """Puts :func:`user_model_folders` on sys.path and PYTHONPATH, so ``user_models:<callable>`` specs import (in
    and out of process); returns the support folder."""
    folders = user_model_folders()
    for folder in reversed(folders):
        monkeypatch.syspath_prepend(folder)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [*folders, os.environ.get("PYTHONPATH")])))
    return folders[0]
