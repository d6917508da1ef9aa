"""The labelled mask of the semi-supervised schemes: class-balanced, fixed by the seed, served with
every training batch, and the label of an unlabelled image never leaves the data module."""
from __future__ import annotations

import pytest
import torch

from cl_robust.data import CIFARDataModule
from cl_robust.data.datamodule import check_labeled_fraction, labeled_mask
from cl_robust.data.device_data import IndexBatch
from cl_robust.data.subsets import count_labeled
from cl_robust.errors import ConfigError

LABELS = torch.arange(10).repeat_interleave(torch.tensor([20, 20, 20, 20, 20, 21, 7, 3, 1, 20]))


@pytest.mark.parametrize("fraction", [0.5, 0.1, 1.0])
def test_the_mask_is_class_balanced(fraction: float) -> None:
    mask = labeled_mask(LABELS, fraction, seed=0)
    counts = torch.bincount(LABELS)
    wanted = torch.floor(counts * fraction + 0.5).clamp_min(1)
    assert torch.equal(torch.bincount(LABELS[mask], minlength=10), wanted.long())


def test_the_mask_is_fixed_by_the_seed() -> None:
    assert torch.equal(labeled_mask(LABELS, 0.5, 3), labeled_mask(LABELS, 0.5, 3))
    assert not torch.equal(labeled_mask(LABELS, 0.5, 3), labeled_mask(LABELS, 0.5, 4))
    assert not torch.equal(labeled_mask(LABELS, 0.5, 3), labeled_mask(LABELS, 0.3, 3))


@pytest.mark.parametrize("fraction", [0, 0.0, -0.5, 1.5, True, "half", None])
def test_bad_fractions_are_refused_in_one_line(fraction: object) -> None:
    with pytest.raises(ConfigError, match=r"labeled_fraction must be a number in \(0, 1\]"):
        check_labeled_fraction(fraction)  # type: ignore[arg-type]


def served_batches(data: CIFARDataModule) -> list[tuple[torch.Tensor, ...]]:
    batches = []
    for batch in data.train_dataloader():
        if isinstance(batch, IndexBatch):  # gathered "on the device" (here the CPU)
            batch = data.transfer_batch_to_device(batch, torch.device("cpu"), 0)
        batches.append(batch)
    return batches


@pytest.mark.parametrize("on_device", [False, True])
def test_batches_carry_the_mask_and_unlabelled_labels_are_minus_one(cifar10_torchvision: str, on_device: bool) -> None:
    plain = CIFARDataModule(root=cifar10_torchvision, batch_size=25, on_device=on_device)
    plain.setup("fit")
    data = CIFARDataModule(root=cifar10_torchvision, batch_size=25, on_device=on_device, seed=5)
    data.setup("fit")
    data.serve_labeled_fraction(0.5)
    true_labels = plain.train_set.labels
    mask = labeled_mask(true_labels, 0.5, seed=5)
    assert torch.equal(data.train_set.labeled, mask)
    assert torch.equal(data.train_set.labels, torch.where(mask, true_labels, -1))
    batches = served_batches(data)
    assert isinstance(next(iter(data.train_dataloader())), IndexBatch) == on_device
    assert all(len(batch) == 3 for batch in batches)
    labels, labelled = torch.cat([b[1] for b in batches]), torch.cat([b[2] for b in batches])
    assert int(labelled.sum()) == int(mask.sum()) == 100 and len(labels) == 200
    assert torch.equal(labels < 0, ~labelled), "an unlabelled image's label is never served"
    assert torch.equal(torch.bincount(labels[labelled]), torch.full((10,), 10))
    assert all(len(batch) == 2 for batch in served_batches(plain)), "no mask unless a scheme asks"


def test_a_mask_asked_before_setup_applies_at_setup_and_one_fraction_per_module(cifar10_torchvision: str) -> None:
    data = CIFARDataModule(root=cifar10_torchvision, batch_size=25)
    data.serve_labeled_fraction(0.25)
    data.setup("fit")
    assert int(data.train_set.labeled.sum()) == 50
    data.serve_labeled_fraction(0.25)
    with pytest.raises(ConfigError, match="already serves 0.25"):
        data.serve_labeled_fraction(0.5)
    assert data.test_set.labeled is None and data.val_set.labeled is None, "evaluation keeps every label"


def test_the_labelled_count_is_announced_and_recorded(cifar10_torchvision: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data = CIFARDataModule(root=cifar10_torchvision, batch_size=25, per_class=10)
    data.serve_labeled_fraction(0.25)
    capsys.readouterr()
    data.setup("fit")
    assert int(data.train_set.labeled.sum()) == 30  # round(2.5) = 3 of 10 in each class (rounded half up)
    notices = [line for line in capsys.readouterr().err.splitlines() if "labeled_fraction" in line]
    assert notices == ["cl-robust: labeled_fraction 0.25: 30 of 100 training images labelled (3 a class; "
                       "fraction used 0.3)"]
    assert data.record()["labeled"] == {"asked": 0.25, "fraction": 0.3, "labeled_images": 30, "images": 100,
                                        "labeled_per_class": [3] * 10}


@pytest.mark.parametrize("fraction, message", [
    (0.01, "labeled_fraction 0.01 would label 10 of 50 training images (0.2, 20 times what was asked: each class "
           "labels round(fraction x its images), at least 1); with 5 images in the smallest class the nearest "
           "possible value is 0.2; ask for it, or train on at least 50 images a class (per_class) for 0.01"),
    (0.09, "labeled_fraction 0.09 would label 10 of 50 training images (0.2, 2.22 times what was asked"),
])
def test_a_fraction_that_rounds_far_from_what_was_asked_is_refused(cifar10_torchvision: str, fraction: float,
                                                                   message: str) -> None:
    data = CIFARDataModule(root=cifar10_torchvision, batch_size=25, per_class=5)
    data.serve_labeled_fraction(fraction)
    with pytest.raises(ConfigError) as error:
        data.setup("fit")
    assert str(error.value).startswith(message), str(error.value)


def test_the_nearest_possible_fractions_bracket_the_one_asked() -> None:
    labels = torch.arange(10).repeat_interleave(3)  # 3 images a class: 1/3, 2/3 or 1 of them labelled
    with pytest.raises(ConfigError, match="nearest possible value is 0.333"):
        count_labeled(labels, 0.1)
    assert count_labeled(labels, 0.2).labeled == 10  # 1 of 3 (0.333): within twice 0.2
    labels = torch.cat([torch.zeros(40, dtype=torch.long), torch.arange(1, 10).repeat_interleave(1)])
    # 40 images of class 0 and one of each other class: 0.02 labels 1 + 9 = 10 of 49, five times too many
    with pytest.raises(ConfigError, match="nearest possible value is 0.204"):
        count_labeled(labels, 0.02)
