"""Label hygiene under 2-rank gloo DDP: the labels of the unlabelled images (true, random or -1) change no
loss and no gradient on either rank, and the labelled means are over the whole batch: the two ranks'
average equals one process with both halves, although the ranks hold 4 and 2 labelled images."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mix_cases  # noqa: E402

WORLD_SIZE = 2
TIME_LIMIT_S = 180.0

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("hygiene_ddp")
    context = mp.start_processes(mix_cases.rank_main, args=(WORLD_SIZE, str(out)), nprocs=WORLD_SIZE,
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
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD_SIZE)]


@pytest.mark.parametrize("mix", mix_cases.MIXES)
@pytest.mark.parametrize("variant", ["random", "minus_one"])
def test_unlabelled_labels_change_nothing_on_any_rank(ranks: list[dict], mix: str, variant: str) -> None:
    for rank in ranks:
        truth, replaced = rank[mix, "true", "train"], rank[mix, variant, "train"]
        assert truth.keys() == replaced.keys() and "adv_loss" in truth
        for name, (loss, grads) in truth.items():
            assert torch.equal(loss, replaced[name][0]), name
            assert all(torch.equal(a, b) for a, b in zip(grads, replaced[name][1], strict=True)), name


@pytest.mark.parametrize("mix", mix_cases.MIXES)
def test_two_ranks_equal_one_process_with_the_whole_batch(ranks: list[dict], mix: str) -> None:
    """In eval mode (no batch statistics) DDP must reproduce the single process exactly, up to rounding."""
    single = mix_cases.losses_and_gradients(mix_cases.make_mix(mix).eval(), mix_cases.full_batch())
    for name, (loss, grads) in single.items():
        averaged = sum(rank[mix, "true", "eval"][name][0] for rank in ranks) / WORLD_SIZE
        torch.testing.assert_close(averaged, loss, rtol=1e-5, atol=1e-6, msg=name)
        for rank in ranks:
            for got, expected in zip(rank[mix, "true", "eval"][name][1], grads, strict=True):
                torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6, msg=name)
