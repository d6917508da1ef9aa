"""Data in which a class has no images is refused before training, instead of training on the other classes."""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from cl_robust.cli import main
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


def _image_folder(tmp_path: Path) -> Path:
    """A synthetic CIFAR-10 image-folder tree (root/cifar10/{train,test}/<class>/*.png); its train split."""
    root = Path(write_synthetic_cifar(str(tmp_path / "data"), "cifar10", 4, 2, layout="image_folder"))
    return root / "cifar10" / "train"


def _emptied(train: Path, how: str) -> None:
    folder = train / "cat"
    for file in folder.iterdir():
        file.unlink()
    if how == "notes only":
        (folder / "README.txt").write_text("no images here")


@pytest.mark.parametrize("how", ["empty", "notes only"])
def test_empty_class_folder_is_refused_by_fit(how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = _image_folder(tmp_path)
    _emptied(train, how)
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIGS / "pretrain" / "sl.yaml"), "--model.init_args.backbone", "resnet_tiny",
              "--data.init_args.root", str(train.parents[1]), "--data.init_args.batch_size", "8",
              "--trainer.max_steps", "1", "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(run),
              "--trainer.logger.init_args.save_dir", str(run), "--checkpoint.dirpath", str(run / "checkpoints")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cl-robust")]
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert "class folder(s) 'cat' hold no images" in err[0] and "9 of 10 classes" in err[0]
    assert not (run / "checkpoints").exists()


def test_missing_class_folder_is_refused(tmp_path: Path) -> None:
    train = _image_folder(tmp_path)
    shutil.rmtree(train / "cat")
    with pytest.raises(ConfigError, match="has 9 classes but dataset='cifar10' has 10"):
        CIFARDataModule("cifar10", root=str(train.parents[1]), batch_size=8).setup("fit")


def test_torchvision_files_without_a_class_are_refused(tmp_path: Path) -> None:
    root = Path(write_synthetic_cifar(str(tmp_path / "tv"), "cifar10", 4, 2, layout="torchvision"))
    for batch in (root / "cifar-10-batches-py").glob("data_batch_*"):
        entry = pickle.loads(batch.read_bytes())
        keep = [index for index, label in enumerate(entry["labels"]) if label != 3]
        entry["data"], entry["labels"] = entry["data"][keep], [entry["labels"][i] for i in keep]
        batch.write_bytes(pickle.dumps(entry))
    with pytest.raises(ConfigError, match="hold no image of the class\\(es\\) 'cat'"):
        CIFARDataModule("cifar10", root=str(root), batch_size=8).setup("fit")
