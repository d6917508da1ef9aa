"""Checks shared by the resume tests: same training state as a reference run, same batches on every rank.

``BatchLog`` is a callback (given by class path to ``cl-robust fit``) that writes down which images
every training step of every rank gets.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


class BatchLog(Callback):
    """Append ``<pid> <global step> <digest of the batch's images>`` to ``folder/rank<r>.log`` before each step."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        digest = hashlib.sha1(batch["x0"].detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"rank{trainer.global_rank}.log", "a") as file:
            file.write(f"{os.getpid()} {trainer.global_step} {digest}\n")


def read_batch_log(folder: Path, rank: int) -> list[tuple[int, int, str]]:
    """(pid, global step, digest) of every step ``rank`` started, in order."""
    lines = (folder / f"rank{rank}.log").read_text().split("\n")
    return [(int(pid), int(step), digest) for pid, step, digest in (line.split() for line in lines if line)]


def assert_batches_as_reference(reference: Path, resumed: Path, ranks: int, steps: int, restart_step: int) -> None:
    """Each rank of the interrupted run, in its first process and after its restart at ``restart_step``,
    got at every step the images the uninterrupted run got there (``BatchLog`` folders)."""
    orders = []
    for rank in range(ranks):
        order = {step: digest for _, step, digest in read_batch_log(reference, rank)}
        assert sorted(order) == list(range(steps))
        logged = read_batch_log(resumed, rank)
        restarted = [step for pid, step, _ in logged if pid != logged[0][0]]
        assert restarted == list(range(restart_step, steps)), "the restart went on from the checkpoint's step"
        assert all(digest == order[step] for _, step, digest in logged), f"rank {rank} saw other batches"
        orders.append(order)
    assert all(len({order[step] for order in orders}) == ranks for step in range(steps)), "each rank has its share"


def assert_same_training_state(expected: dict, actual: dict, steps: int) -> None:
    """Two checkpoints at ``steps`` with the same weights, buffers and optimiser state, bit for bit."""
    assert actual["global_step"] == expected["global_step"] == steps
    assert expected["state_dict"].keys() == actual["state_dict"].keys()
    for name, tensor in expected["state_dict"].items():
        assert tensor.equal(actual["state_dict"][name]), name
    for expected_state, actual_state in zip(expected["optimizer_states"][0]["state"].values(),
                                            actual["optimizer_states"][0]["state"].values(), strict=True):
        assert all(expected_state[key].equal(actual_state[key]) for key in expected_state)
