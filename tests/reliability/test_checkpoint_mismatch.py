"""``cl-robust test`` / ``validate`` refuse a checkpoint that is not the config's kind of model or data set."""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CONFIGS, cli_in_process, error_lines, run_dir_args, tiny_args

SL, LINEAR = str(CONFIGS / "pretrain" / "sl.yaml"), str(CONFIGS / "finetune" / "linear.yaml")


@pytest.fixture(scope="module")
def checkpoints(synthetic_root: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(sl pretraining last.ckpt, its linear probe's last.ckpt), each written by cl-robust fit in 2 steps."""
    folder = tmp_path_factory.mktemp("mismatch")
    from cl_robust.cli import main

    def fit(args: list[str]) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
            raise SystemExit(0)
        assert exit_info.value.code in (0, None)

    fit(["fit", "--config", SL, *tiny_args(synthetic_root), *run_dir_args(folder / "pre")])
    pretrained = str(folder / "pre" / "checkpoints" / "last.ckpt")
    fit(["fit", "--config", LINEAR, *tiny_args(synthetic_root)[2:], *run_dir_args(folder / "probe"),
         "--model.init_args.pretrained_checkpoint", pretrained])
    return pretrained, str(folder / "probe" / "checkpoints" / "last.ckpt")


def probe_args(synthetic_root: str, pretrained: str, tmp_path: Path) -> list[str]:
    return ["--config", LINEAR, *tiny_args(synthetic_root, steps=None)[2:], *run_dir_args(tmp_path / "eval"),
            "--model.init_args.pretrained_checkpoint", pretrained]


@pytest.mark.parametrize("command", ["test", "validate"])
def test_pretraining_checkpoint_with_the_probe_config_is_refused(command: str, checkpoints: tuple[str, str],
                                                                 synthetic_root: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pretrained, _ = checkpoints
    code, err = cli_in_process([command, *probe_args(synthetic_root, pretrained, tmp_path), "--ckpt_path", pretrained],
                               capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert "was written by a 'sl' pretraining run but the config's model is FineTune (scheme 'finetune')" in lines[0]


def test_checkpoint_of_another_data_set_is_refused(checkpoints: tuple[str, str], synthetic_root: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pretrained, probe = checkpoints
    code, err = cli_in_process(["test", *probe_args(synthetic_root, pretrained, tmp_path), "--ckpt_path", probe,
                                "--data.init_args.dataset", "cifar100"], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert "was trained on cifar10, not cifar100; set --data.init_args.dataset cifar10" in lines[0]


def test_the_matching_checkpoint_is_tested(checkpoints: tuple[str, str], synthetic_root: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pretrained, probe = checkpoints
    code, err = cli_in_process(["test", *probe_args(synthetic_root, pretrained, tmp_path), "--ckpt_path", probe],
                               capsys)
    assert code == 0 and not error_lines(err), err[-2000:]


def test_test_refuses_data_whose_classes_or_size_differ_from_the_checkpoints(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A generic image-folder run: its checkpoint records the class names and image size it was trained on."""
    from cl_robust.data.synthetic import write_synthetic_cifar

    root = Path(write_synthetic_cifar(str(tmp_path / "folder"), "cifar10", 4, 2, layout="image_folder")) / "cifar10"
    folder_data = ["--data.class_path", "cl_robust.data.ImageFolderDataModule", "--data.init_args.root", str(root)]
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(str(root)), *run_dir_args(tmp_path / "run"),
                                *folder_data], capsys)
    assert code == 0, err[-2000:]
    checkpoint = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    test = ["test", "--config", SL, *tiny_args(str(root), steps=None), *run_dir_args(tmp_path / "test"), *folder_data,
            "--ckpt_path", checkpoint]
    code, err = cli_in_process([*test, "--data.init_args.image_size", "16", "--data.init_args.resize", "true"], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert lines[0] == (f"cl-robust: error: ckpt_path: {checkpoint!r} was trained on 32x32 images but the data serves "
                        "16x16; give 32x32 images (image folders: image_size 32, and resize: true for files of "
                        "another size)")
    for split in ("train", "test"):
        (root / split / "airplane").rename(root / split / "plane")
    code, err = cli_in_process(test, capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert "was trained on the classes airplane, automobile, bird, cat, ... (10 classes), but the data's classes " \
           "differ (label 0 is 'automobile' in the data but 'airplane' in the checkpoint)" in lines[0]
