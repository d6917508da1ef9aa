"""The same test images stored in two orders give the same numbers: TM-I and PGD counts, CKA matrices.

Threat model I takes its negatives from the batch and minibatch CKA assumes random batches, so
both changed with the order the data was stored in while batches followed it. With the seeded
content order (``--order_seed``, default 0) the batches are the same whatever the storage order.
"""
import json
from pathlib import Path

import pytest

from cl_robust.cli import main
from cl_robust.data.synthetic import write_synthetic_cifar

ATTACKS = ["clean", "pgd20:steps=3:eps=16/255", "tm1:steps=3:eps=16/255"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    capsys.readouterr()
    assert exit_info.value.code in (0, None)


@pytest.fixture(scope="module")
def two_copies(tmp_path_factory: pytest.TempPathFactory, reordered_copy) -> tuple[str, str]:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("storage_order")
    root = write_synthetic_cifar(str(folder / "a"), "cifar10", train_per_class=8, test_per_class=8,
                                 layout="torchvision")
    return root, reordered_copy(root, str(folder / "b"))


def evaluate(checkpoint: Path, root: str, output: Path, capsys: pytest.CaptureFixture[str],
             extra: tuple[str, ...] = ()) -> list[tuple[str, int, float | None]]:
    run(["evaluate", "--checkpoint", str(checkpoint), "--data.root", root, "--data.test_per_class", "6",
         "--batch_size", "20", "--device", "cpu", "--output", str(output), "--attacks", *ATTACKS, *extra], capsys)
    results = json.loads((output / "robustness.json").read_text())["results"]
    return [(r["name"], r["correct"], r.get("objective_after")) for r in results]


def analyze(checkpoint: Path, root: str, output: Path, capsys: pytest.CaptureFixture[str],
            extra: tuple[str, ...] = ()) -> dict:
    run(["analyze", "--checkpoint", str(checkpoint), "--data.root", root, "--data.test_per_class", "6",
         "--batch_size", "20", "--device", "cpu", "--output", str(output), "--adversarial", "8/255",
         "--attack_steps", "2", "--no_probes", "--bootstrap", "0", "--no_baseline", *extra], capsys)
    report = json.loads((output / "analysis.json").read_text())
    return {"clean": report["clean"]["cka"], "adversarial": report["adversarial"]["eps=8/255"]["cka"]}


def test_evaluation_does_not_depend_on_the_storage_order(cl_finetuned_checkpoint: Path, two_copies: tuple[str, str],
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_copies
    results = evaluate(cl_finetuned_checkpoint, first, tmp_path / "a", capsys)
    assert results == evaluate(cl_finetuned_checkpoint, second, tmp_path / "b", capsys)
    # In storage order the two copies are different evaluations (other images, other batches).
    stored = [evaluate(cl_finetuned_checkpoint, root, tmp_path / f"stored{i}", capsys, ("--order_seed", "none"))
              for i, root in enumerate(two_copies)]
    assert stored[0] != stored[1]


def test_analysis_does_not_depend_on_the_storage_order(cl_finetuned_checkpoint: Path, two_copies: tuple[str, str],
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_copies
    assert analyze(cl_finetuned_checkpoint, first, tmp_path / "a", capsys) == analyze(
        cl_finetuned_checkpoint, second, tmp_path / "b", capsys)
    stored = [analyze(cl_finetuned_checkpoint, root, tmp_path / f"stored{i}", capsys, ("--order_seed", "none"))
              for i, root in enumerate(two_copies)]
    assert stored[0]["clean"] != stored[1]["clean"]
