"""The seeded content order: random-looking, seeded, and blind to the order the images were stored in."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cl_robust.data import CIFARDataModule, load_split
from cl_robust.data.order import content_keys, content_order
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_order_is_the_same_for_any_storage_order() -> None:
    images, labels = _images(300), torch.arange(300) % 10
    shuffle = torch.randperm(300, generator=torch.Generator().manual_seed(5))
    first = content_order(images, labels, seed=3)
    second = content_order(images[shuffle], labels[shuffle], seed=3)
    assert torch.equal(images[first], images[shuffle][second])
    assert torch.equal(labels[first], labels[shuffle][second])


def test_order_changes_with_the_seed_and_mixes_the_classes() -> None:
    labels = torch.arange(1000) // 100  # class-sorted, as image folders are read
    images = _images(1000)
    zero, one = content_order(images, labels, 0), content_order(images, labels, 1)
    assert not torch.equal(zero, one)
    assert sorted(zero.tolist()) == list(range(1000))
    # Every batch of 100 in the seeded order holds (nearly) every class, unlike storage order.
    for batch in labels[zero].split(100):
        assert len(batch.unique()) >= 8


def test_identical_images_are_ordered_by_label() -> None:
    images = _images(1).expand(4, 3, 8, 8).contiguous()
    labels = torch.tensor([3, 1, 2, 0])
    assert labels[content_order(images, labels, 0)].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seeds_are_refused(seed: object) -> None:
    with pytest.raises(ConfigError, match="order_seed"):
        content_keys(_images(2), seed)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="order_seed"):
        CIFARDataModule(root=".", order_seed=seed)  # type: ignore[arg-type]


def test_data_modules_on_differently_stored_copies_give_the_same_batches(tmp_path: Path, reordered_copy) -> None:  # noqa: ANN001
    """The same images stored in two orders: identical test and per-class training subsets, in the same order."""
    root = write_synthetic_cifar(str(tmp_path / "sorted"), "cifar10", train_per_class=12, test_per_class=6,
                                 layout="torchvision")
    shuffled_root = reordered_copy(root, str(tmp_path / "shuffled"))
    stored, reshuffled = load_split("cifar10", root, "test")[0], load_split("cifar10", shuffled_root, "test")[0]
    assert not torch.equal(stored, reshuffled)  # same images, another storage order
    modules = []
    for data_root in (root, shuffled_root):
        module = CIFARDataModule(root=data_root, batch_size=8, per_class=5, test_per_class=4)
        module.setup("fit")
        modules.append(module)
    for split in ("train_set", "test_set"):
        assert torch.equal(getattr(modules[0], split).images, getattr(modules[1], split).images)
        assert torch.equal(getattr(modules[0], split).labels, getattr(modules[1], split).labels)
