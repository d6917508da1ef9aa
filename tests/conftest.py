"""Shared test settings: no network logging, few threads, deterministic seeds."""
import os

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


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
