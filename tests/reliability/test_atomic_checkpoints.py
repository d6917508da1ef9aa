"""Lightning writes checkpoints through ``_atomic_save``: the bytes go to a temporary file inside an
fsspec transaction and replace the target only when complete. A failure while writing leaves
the previous ``last.ckpt`` whole, so resuming never meets a half-written file from Lightning."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fsspec.implementations.local import LocalFileOpener
from lightning.fabric.utilities.cloud_io import _atomic_save


def test_failure_while_writing_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.ckpt"
    _atomic_save({"global_step": 1, "weights": torch.ones(1000)}, target)
    before = target.read_bytes()

    def write_half_then_die(self: LocalFileOpener, data: bytes) -> int:
        self.f.write(data[: len(data) // 2])
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(LocalFileOpener, "write", write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        _atomic_save({"global_step": 2, "weights": torch.zeros(1000)}, target)
    assert target.read_bytes() == before
    assert torch.load(target, weights_only=True)["global_step"] == 1


def test_the_bytes_go_to_a_temporary_file_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the data is written, the target path does not yet hold the new (partial) file."""
    target = tmp_path / "last.ckpt"
    seen: list[bool] = []
    original = LocalFileOpener.write

    def spy(self: LocalFileOpener, data: bytes) -> int:
        seen.append(target.exists())
        return original(self, data)

    monkeypatch.setattr(LocalFileOpener, "write", spy)
    _atomic_save({"global_step": 3}, target)
    assert seen == [False] and torch.load(target, weights_only=True)["global_step"] == 3
