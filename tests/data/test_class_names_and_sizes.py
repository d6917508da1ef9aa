"""Image folders whose class names or image size differ from the data set's are refused; a resize happens only when
asked, and is then announced in one line and recorded (:meth:`CIFARDataModule.record`)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from cl_robust.data import CIFAR10_CLASSES, CIFARDataModule, ImageFolderDataModule
from cl_robust.data.record import check_same_data
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError


def image_folder(tmp_path: Path) -> Path:
    """Synthetic CIFAR-10 as image folders, 4 training and 2 test images a class; the folder holding train/, test/."""
    return Path(write_synthetic_cifar(str(tmp_path / "data"), "cifar10", 4, 2, layout="image_folder")) / "cifar10"


def enlarge(split_dir: Path, size: int = 64) -> None:
    for file in split_dir.rglob("*.png"):
        with Image.open(file) as image:
            image.resize((size, size)).save(file)


def test_a_renamed_class_folder_is_refused_not_relabelled(tmp_path: Path) -> None:
    root = image_folder(tmp_path)
    (root / "test" / "airplane").rename(root / "test" / "plane")
    with pytest.raises(ConfigError) as error:
        CIFARDataModule("cifar10", root=str(root), batch_size=8).setup("fit")
    message = str(error.value)
    assert "class folder(s) 'plane' are not cifar10 class names (missing: 'airplane')" in message
    assert "labels follow cifar10's class names" in message and "\n" not in message


def test_images_of_another_size_are_refused_unless_resize_is_asked(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = image_folder(tmp_path)
    enlarge(root / "test")
    with pytest.raises(ConfigError) as error:
        CIFARDataModule("cifar10", root=str(root), batch_size=8).setup("fit")
    assert "20 of 20 images are not 32x32" in str(error.value) and "is 64x64" in str(error.value)
    assert "resize: true (evaluate / analyze: --data.resize)" in str(error.value)

    capsys.readouterr()
    data = CIFARDataModule("cifar10", root=str(root), batch_size=8, resize=True)
    data.setup("fit")
    assert data.test_set.images.shape[1:] == (3, 32, 32)
    notices = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cl-robust: resize")]
    assert notices == ["cl-robust: resize: resized 20 test images (64x64) to 32x32 (bilinear); recorded in the "
                       "checkpoint and result files"]
    record = data.record()
    assert record["resize"] is True and record["resized"] == {"test": {"64x64": 20}} and record["image_size"] == 32


def test_the_record_names_classes_size_and_validation_split(tmp_path: Path) -> None:
    root = image_folder(tmp_path)
    data = CIFARDataModule("cifar10", root=str(root), batch_size=8)
    data.setup("fit")
    assert data.validates_on_test
    assert data.record() == {"dataset": "cifar10", "classes": list(CIFAR10_CLASSES), "image_size": 32,
                             "resize": False, "resized": {}, "validation": "test split", "labeled": None}
    held_out = CIFARDataModule("cifar10", root=str(root), batch_size=8, per_class=4, val_per_class=1)
    held_out.setup("fit")
    assert not held_out.validates_on_test
    assert held_out.record()["validation"] == "held out of the training images, 1 a class"


def test_generic_image_folder_refuses_another_size_and_resizes_when_asked(tmp_path: Path) -> None:
    root = image_folder(tmp_path)
    with pytest.raises(ConfigError, match=r"images are not 16x16 .*set image_size to the images' size, or resize"):
        ImageFolderDataModule(str(root), batch_size=8, image_size=16).setup("fit")
    data = ImageFolderDataModule(str(root), batch_size=8, image_size=16, resize=True)
    data.setup("fit")
    assert data.train_set.images.shape[1:] == (3, 16, 16)
    assert data.record()["resized"] == {"train": {"32x32": 40}, "test": {"32x32": 20}}
    assert data.record()["image_size"] == 16 and data.record()["dataset"] == "image_folder"
    with pytest.raises(ConfigError, match="resize must be true or false"):
        ImageFolderDataModule(str(root), resize="yes")  # type: ignore[arg-type]


def test_data_is_checked_against_what_a_checkpoint_recorded(tmp_path: Path) -> None:
    root = image_folder(tmp_path)
    data = ImageFolderDataModule(str(root), batch_size=8)
    data.setup("fit")
    recorded = data.record()
    check_same_data(recorded, data.record(), "ckpt")  # the same data passes
    check_same_data(None, data.record(), "ckpt")  # nothing recorded (an older checkpoint): nothing to check
    shutil.move(root / "train" / "airplane", root / "train" / "zz_airplane")
    shutil.move(root / "test" / "airplane", root / "test" / "zz_airplane")
    renamed = ImageFolderDataModule(str(root), batch_size=8)
    renamed.setup("fit")
    with pytest.raises(ConfigError) as error:
        check_same_data(recorded, renamed.record(), "ckpt_path: 'x.ckpt'")
    assert str(error.value).startswith("ckpt_path: 'x.ckpt' was trained on the classes airplane, automobile, bird, "
                                       "cat, ... (10 classes), but the data's classes differ (label 0 is 'automobile' "
                                       "in the data but 'airplane' in the checkpoint)")
    with pytest.raises(ConfigError, match="was trained on 64x64 images but the data serves 32x32; give 64x64 images"):
        check_same_data({**recorded, "image_size": 64}, recorded, "ckpt")
