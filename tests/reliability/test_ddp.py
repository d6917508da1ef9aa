"""Two gloo ranks on the CPU agree with one process that sees both ranks' data: contrastive
losses see every rank's negatives, CKA and evaluation counts reduce to the single-process result."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ddp_cases  # noqa: E402

WORLD_SIZE = 2
TIME_LIMIT_S = 60.0


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Single-process results and each rank's results of every case (one spawn for all)."""
    out = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(ddp_cases.rank_main, args=(WORLD_SIZE, str(out)), nprocs=WORLD_SIZE,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + TIME_LIMIT_S
    try:
        while not context.join(timeout=1.0):
            if time.monotonic() > deadline:
                pytest.fail(f"2-rank gloo run took more than {TIME_LIMIT_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    ddp_cases.single_process(out)
    load = lambda name: torch.load(out / name, weights_only=False)  # noqa: E731
    return {"single": load("single.pt"), "ranks": [load(f"rank{rank}.pt") for rank in range(WORLD_SIZE)]}


@pytest.mark.parametrize("loss", ["ntxent", "supcon", "supcon_unlabelled"])
def test_two_ranks_give_the_loss_and_gradient_of_one_big_batch(results: dict, loss: str) -> None:
    single_loss, single_gradient = results["single"][loss]
    for rank_loss, rank_gradient in (rank[loss] for rank in results["ranks"]):
        torch.testing.assert_close(rank_loss, single_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(rank_gradient, single_gradient, rtol=1e-4, atol=1e-6)


def test_local_batch_alone_would_differ(results: dict) -> None:
    """The check above has teeth: a rank's own half gives another loss than the full batch."""
    data = ddp_cases.inputs()
    local_loss, _ = ddp_cases.loss_and_gradient("ntxent", data, slice(0, ddp_cases.BATCH), wrap=False)
    assert not torch.allclose(local_loss, results["single"]["ntxent"][0])


def test_minibatch_cka_reduces_across_ranks(results: dict) -> None:
    for rank in results["ranks"]:
        torch.testing.assert_close(rank["cka"], results["single"]["cka"], rtol=1e-10, atol=1e-12)


def test_evaluation_counts_reduce_across_ranks(results: dict) -> None:
    if results["single"]["counts"] is None:
        pytest.skip("cl_robust.evaluation.robustness.reduce_counts is not available")
    for rank in results["ranks"]:
        assert torch.equal(rank["counts"], results["single"]["counts"])
