"""``evaluate`` and ``analyze`` refuse data whose class names or image size differ from the checkpoint's, and record
a resize they were asked for (``--data.resize``) in their result files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from cl_robust.cli import main
from cl_robust.data import CIFAR10_CLASSES
from cl_robust.data.synthetic import write_synthetic_cifar

ANALYZE = ["analyze", "--no_probes", "--no_baseline", "--bootstrap", "0", "--batch_size", "10"]
EVALUATE = ["evaluate", "--attacks", "clean"]


def run(command: list[str], checkpoint: Path, root: str, output: Path,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """(exit status, the ``cl-robust:`` lines of stderr) of one command in this process."""
    capsys.readouterr()
    try:
        main([*command, "--checkpoint", str(checkpoint), "--data.root", root, "--device", "cpu",
              "--output", str(output)])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.startswith("cl-robust")]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Synthetic CIFAR-10 as image folders (2 test images a class); the folder holding train/ and test/."""
    return Path(write_synthetic_cifar(str(tmp_path / "data"), "cifar10", 16, 2, layout="image_folder")) / "cifar10"


def test_the_checkpoint_records_the_data_it_was_trained_on(sl_checkpoint: Path) -> None:
    data = torch.load(sl_checkpoint, map_location="cpu", weights_only=False)["cl_robust"]["data"]
    assert data["dataset"] == "cifar10" and data["classes"] == list(CIFAR10_CLASSES) and data["image_size"] == 32
    assert data["resized"] == {} and data["labeled"] is None


@pytest.mark.parametrize("command", [EVALUATE, ANALYZE], ids=["evaluate", "analyze"])
def test_a_renamed_class_folder_is_one_line(command: list[str], sl_checkpoint: Path, image_folder: Path,
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (image_folder / "test" / "airplane").rename(image_folder / "test" / "plane")
    code, lines = run(command, sl_checkpoint, str(image_folder), tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "class folder(s) 'plane' are not cifar10 class names (missing: 'airplane')" in lines[0]
    assert not any((tmp_path / "out").glob("*.json"))


@pytest.mark.parametrize("command", [EVALUATE, ANALYZE], ids=["evaluate", "analyze"])
def test_classes_or_size_other_than_the_checkpoint_recorded_are_refused(command: list[str], sl_checkpoint: Path,
                                                                        data_root: str, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = torch.load(sl_checkpoint, map_location="cpu", weights_only=False)
    swapped = tmp_path / "swapped.ckpt"
    classes = list(CIFAR10_CLASSES)
    classes[0], classes[1] = classes[1], classes[0]
    checkpoint["cl_robust"]["data"]["classes"] = classes
    torch.save(checkpoint, swapped)
    code, lines = run(command, swapped, data_root, tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"cl-robust: error: checkpoint: '{swapped}' was trained on the classes automobile, "
                               "airplane, bird, cat, ... (10 classes), but the data's classes differ (label 0 is "
                               "'airplane' in the data but 'automobile' in the checkpoint)")
    checkpoint["cl_robust"]["data"]["classes"] = list(CIFAR10_CLASSES)
    checkpoint["cl_robust"]["data"]["image_size"] = 64
    larger = tmp_path / "larger.ckpt"
    torch.save(checkpoint, larger)
    code, lines = run(command, larger, data_root, tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "was trained on 64x64 images but the data serves 32x32" in lines[0]


def test_images_of_another_size_need_resize_which_is_recorded(sl_checkpoint: Path, image_folder: Path,
                                                              tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    for file in (image_folder / "test").rglob("*.png"):
        with Image.open(file) as image:
            image.resize((64, 64)).save(file)
    code, lines = run(EVALUATE, sl_checkpoint, str(image_folder), tmp_path / "refused", capsys)
    assert code == 2 and len(lines) == 1 and "20 of 20 images are not 32x32" in lines[0], lines
    assert "--data.resize" in lines[0]

    code, lines = run([*EVALUATE, "--data.resize"], sl_checkpoint, str(image_folder), tmp_path / "eval", capsys)
    assert code == 0, lines
    assert "cl-robust: resize: resized 20 test images (64x64) to 32x32 (bilinear); recorded in the checkpoint and " \
           "result files" in lines
    dataset = json.loads((tmp_path / "eval" / "robustness.json").read_text())["dataset"]
    assert dataset["resize"] is True and dataset["resized"] == {"test": {"64x64": 20}}
    assert dataset["classes"] == list(CIFAR10_CLASSES) and dataset["image_size"] == 32
    assert "20 of them resized from 64x64 to 32x32 (--data.resize)" in (tmp_path / "eval" / "robustness.md").read_text()

    code, lines = run([*ANALYZE, "--data.resize"], sl_checkpoint, str(image_folder), tmp_path / "analysis", capsys)
    assert code == 0, lines
    data = json.loads((tmp_path / "analysis" / "analysis.json").read_text())["data"]
    assert data["resized"] == {"test": {"64x64": 20}} and data["classes"] == list(CIFAR10_CLASSES)
