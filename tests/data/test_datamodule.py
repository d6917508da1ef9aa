"""Data modules: options, deterministic per-class subsets, batches, and a short Lightning run."""
from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from cl_robust.data import CIFARDataModule, DataNotFoundError, ImageFolderDataModule, load_split
from cl_robust.data.datamodule import TensorBatchDataset, passthrough_collate, rank_within_class
from cl_robust.data.order import content_order
from cl_robust.errors import ConfigError


def make_module(root: str, **options) -> CIFARDataModule:
    module = CIFARDataModule(root=root, **{"batch_size": 16, **options})
    module.setup("fit")
    return module


def test_num_classes_is_known_without_data(tmp_path: Path) -> None:
    assert CIFARDataModule(root=str(tmp_path)).num_classes == 10
    assert CIFARDataModule("cifar100", root=str(tmp_path)).num_classes == 100


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"dataset": "svhn"}, "dataset must be one of 'cifar10', 'cifar100'"),
        ({"batch_size": 0}, "batch_size"),
        ({"eval_batch_size": -2}, "eval_batch_size"),
        ({"per_class": 0}, "per_class"),
        ({"test_per_class": 0}, "test_per_class"),
        ({"val_per_class": -1}, "val_per_class"),
        ({"per_class": 5, "val_per_class": 5}, "val_per_class=5 must be smaller than per_class=5"),
        ({"num_workers": -1}, "num_workers"),
    ],
)
def test_bad_options_fail_in_init(tmp_path: Path, options: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        CIFARDataModule(root=str(tmp_path), **options)


def test_root_that_is_a_file_fails_in_init(tmp_path: Path) -> None:
    file = tmp_path / "data.bin"
    file.write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file"):
        CIFARDataModule(root=str(file))


def test_missing_data_fails_in_prepare_data_and_setup(tmp_path: Path) -> None:
    module = CIFARDataModule(root=str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError, match="CL_ROBUST_DATA"):
        module.prepare_data()
    with pytest.raises(DataNotFoundError, match="download=true"):
        module.setup("fit")


def test_root_defaults_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          cifar10_torchvision: str) -> None:
    monkeypatch.setenv("CL_ROBUST_DATA", cifar10_torchvision)
    module = CIFARDataModule(batch_size=8)
    module.setup()
    assert module.root == cifar10_torchvision and len(module.train_set) == 200


def test_per_class_subset_and_validation_split_are_deterministic(cifar10_torchvision: str) -> None:
    images, labels, _ = load_split("cifar10", cifar10_torchvision, "train")
    order = content_order(images, labels, 0)  # order_seed 0, the default
    images, labels = images[order], labels[order]
    first = make_module(cifar10_torchvision, per_class=12, val_per_class=3, test_per_class=4)
    second = make_module(cifar10_torchvision, per_class=12, val_per_class=3, test_per_class=4, seed=7)
    for name in ("train_set", "val_set", "test_set"):
        assert torch.equal(getattr(first, name).images, getattr(second, name).images)
    train, val = first.train_set, first.val_set
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 9))
    assert torch.equal(torch.bincount(val.labels), torch.full((10,), 3))
    assert torch.equal(torch.bincount(first.test_set.labels), torch.full((10,), 4))
    for c in range(10):
        of_class = images[labels == c]
        # Training keeps images 0..8 of each class in the seeded order, validation holds out images 9..11.
        assert torch.equal(train.images[train.labels == c], of_class[:9])
        assert torch.equal(val.images[val.labels == c], of_class[9:12])
    flat_train = {bytes(image.flatten().tolist()) for image in train.images}
    assert not any(bytes(image.flatten().tolist()) in flat_train for image in val.images)


def test_order_seed_null_keeps_the_storage_order(cifar10_torchvision: str) -> None:
    images, labels, _ = load_split("cifar10", cifar10_torchvision, "test")
    stored = make_module(cifar10_torchvision, test_per_class=4, order_seed=None)
    first_four = torch.cat([torch.nonzero(labels == c).flatten()[:4] for c in range(10)]).sort().values
    assert torch.equal(stored.test_set.images, images[first_four])
    assert torch.equal(stored.test_set.labels, labels[first_four])


def test_validation_falls_back_to_the_test_split(cifar10_torchvision: str) -> None:
    module = make_module(cifar10_torchvision)
    assert module.val_set is module.test_set and len(module.test_set) == 100


def test_too_large_subsets_are_config_errors(cifar10_torchvision: str) -> None:
    with pytest.raises(ConfigError, match="per_class=50"):
        make_module(cifar10_torchvision, per_class=50)
    with pytest.raises(ConfigError, match="val_per_class=20"):
        make_module(cifar10_torchvision, val_per_class=20)
    with pytest.raises(ConfigError, match="batch_size=500"):
        make_module(cifar10_torchvision, batch_size=500)


def test_train_batches_are_shuffled_full_and_seeded(cifar10_torchvision: str) -> None:
    module = make_module(cifar10_torchvision, batch_size=64)
    batches = list(module.train_dataloader())
    assert len(batches) == 200 // 64
    images, labels = batches[0]
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert not torch.equal(labels, module.train_set.labels[:64])
    again = [labels for _, labels in make_module(cifar10_torchvision, batch_size=64).train_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(again, [b[1] for b in batches], strict=True))
    other_seed = next(iter(make_module(cifar10_torchvision, batch_size=64, seed=1).train_dataloader()))[1]
    assert not torch.equal(other_seed, labels)
    second_epoch = next(iter(module.train_dataloader()))[1]
    assert not torch.equal(second_epoch, labels)


def test_eval_batches_cover_the_split_in_order(cifar10_torchvision: str) -> None:
    module = make_module(cifar10_torchvision, eval_batch_size=30)
    batches = list(module.test_dataloader())
    assert [len(labels) for _, labels in batches] == [30, 30, 30, 10]
    assert torch.equal(torch.cat([images for images, _ in batches]), module.test_set.images)
    assert torch.equal(torch.cat([labels for _, labels in batches]), module.test_set.labels)


def test_batches_are_fetched_whole_and_work_with_a_distributed_sampler() -> None:
    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 3, 2, 2)
    dataset = TensorBatchDataset(images, torch.arange(20))
    calls = []
    original = dataset.__getitems__
    dataset.__getitems__ = lambda indices: calls.append(list(indices)) or original(indices)
    sampler = DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler, collate_fn=passthrough_collate)
    labels = torch.cat([batch_labels for _, batch_labels in loader])
    assert labels.tolist() == list(range(1, 20, 2))
    assert [len(call) for call in calls] == [4, 4, 2]


def test_rank_within_class() -> None:
    labels = torch.tensor([2, 0, 2, 1, 0, 2])
    assert rank_within_class(labels).tolist() == [0, 0, 1, 0, 1, 2]


def test_image_folder_data_module(cifar10_image_folder: str, tmp_path: Path) -> None:
    root = str(Path(cifar10_image_folder) / "cifar10")
    module = ImageFolderDataModule(root, batch_size=16, per_class=10, val_per_class=2)
    assert module.num_classes == 10
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(torch.bincount(module.train_set.labels), torch.full((10,), 8))
    assert torch.equal(torch.bincount(module.val_set.labels), torch.full((10,), 2))
    with pytest.raises(DataNotFoundError, match="train,test"):
        ImageFolderDataModule(str(tmp_path))


class TinyClassifier(lightning.LightningModule):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3 * 32 * 32, num_classes)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        images, labels = batch
        return torch.nn.functional.cross_entropy(self.layer(images.float().flatten(1) / 255), labels)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        images, labels = batch
        accuracy = (self.layer(images.float().flatten(1) / 255).argmax(1) == labels).float().mean()
        self.log("val_accuracy", accuracy)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_runs_on_the_data_module(cifar10_torchvision: str) -> None:
    module = CIFARDataModule(root=cifar10_torchvision, batch_size=32, per_class=16, val_per_class=4)
    trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(TinyClassifier(module.num_classes), datamodule=module)
    assert trainer.global_step == 2 * (120 // 32)
    assert "val_accuracy" in trainer.callback_metrics
