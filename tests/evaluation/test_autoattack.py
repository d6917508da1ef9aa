"""The original AutoAttack: the robust accuracy of pyautoattack's own ``run_standard_evaluation``, image for
image; an interrupted run resumes to the same result (its checks on a masked model: test_masking.py).

A small conv net and 12 random images keep each run to seconds; ``iterations=5, queries=50`` shorten
APGD-CE, APGD-T, FAB-T and Square on both sides alike (``standard_autoattack`` applies them to
pyautoattack's own attack objects), and chunks of 5 images make every attack run on several chunks.
"""
from pathlib import Path

import pytest
import torch
from torch import nn

from cl_robust.evaluation.autoattack import run_autoattack, standard_autoattack
from cl_robust.evaluation.robustness import evaluate_robustness

SHORT = {"iterations": 5, "queries": 50}
CHUNK = 5


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                         nn.Linear(128, 10)).eval()


def images_and_labels(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """12 random images labelled with the model's own predictions, two of them changed (misclassified)."""
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    labels[:2] = (labels[:2] + 1) % 10
    return images, labels


@pytest.mark.parametrize(("norm", "eps"), [("linf", 8 / 255), ("l2", 1.0)])
def test_the_same_images_survive_as_under_pyautoattacks_own_evaluation(norm: str, eps: float) -> None:
    model = small_model()
    images, labels = images_and_labels(model)
    theirs = standard_autoattack(model, norm, eps, seed=0, device="cpu", **SHORT)
    _, predicted = theirs.run_standard_evaluation(images, labels, batch_size=CHUNK)
    ours = run_autoattack(model, images, labels, norm=norm, eps=eps, seed=0, batch_size=CHUNK, **SHORT)
    assert torch.equal(ours.correct, predicted == labels)
    assert {"clean", "apgd-t", None} <= set(ours.broken_by)  # clean errors, a later attack and survivors
    assert all(check["passed"] for check in ours.checks.values()), ours.checks


def test_our_autoattack_attack_through_the_suite_counts_the_same(tmp_path: Path) -> None:
    """``autoattack:steps=5:queries=50`` over batches of 8 and 4 images: the whole split in chunks of 5."""
    model = small_model()
    images, labels = images_and_labels(model)
    theirs = standard_autoattack(model, "linf", 8 / 255, seed=3, device="cpu", **SHORT)
    _, predicted = theirs.run_standard_evaluation(images, labels, batch_size=CHUNK)
    batches = [(images[:8], labels[:8]), (images[8:], labels[8:])]
    outcome = evaluate_robustness(model, batches, ["autoattack:steps=5:queries=50"], seed=3, state_dir=tmp_path,
                                  autoattack_batch_size=CHUNK)
    (record,) = outcome["results"]
    assert record["correct"] == int((predicted == labels).sum()) and record["total"] == 12
    assert record["version"].startswith("standard with fewer") and record["iterations"] == 5
    assert [stage["after"] for stage in record["after_each_attack"]] == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert record["after_each_attack"][-1]["correct"] == record["correct"]
    assert torch.equal(outcome["per_sample"].correct["autoattack:steps=5:queries=50"], predicted == labels)


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    model = small_model()
    images, labels = images_and_labels(model)
    options = {"norm": "linf", "eps": 8 / 255, "seed": 0, "batch_size": CHUNK, **SHORT}
    calls = [0]
    counting = model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    whole = run_autoattack(model, images, labels, **options)
    counting.remove()

    def stop_part_way(*_: object) -> None:
        calls[0] -= 1
        if calls[0] <= 0:
            raise Interrupt
    calls[0] = int(0.6 * calls[0])  # well into APGD-T
    hook = model.register_forward_hook(stop_part_way)
    state = tmp_path / "autoattack"
    with pytest.raises(Interrupt):
        run_autoattack(model, images, labels, state_path=state, **options)
    hook.remove()
    (saved,) = tmp_path.glob("autoattack-*.json")
    resumed = run_autoattack(model, images, labels, state_path=state, **options)
    assert resumed.broken_by == whole.broken_by
    assert resumed.resumed is not None and "apgd-ce" in resumed.resumed["attacks_done"]
    assert resumed.checks["zero_gradients"] == whole.checks["zero_gradients"]
    other = small_model(seed=1)  # other weights: the saved progress is not theirs
    assert run_autoattack(other, images, labels, state_path=state, **options).resumed is None
    assert saved.exists() and len(list(tmp_path.glob("autoattack-*.json"))) == 2
