"""The catalogue of bad inputs (docs/bad_inputs.md): each gives one line naming the problem,
a non-zero exit status, no traceback, and leaves finished results alone."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from ..warm_process import WarmServer
from .conftest import CONFIGS, cli_in_process, cli_subprocess, error_lines, run_dir_args, tiny_args

CL, SL = str(CONFIGS / "pretrain" / "cl.yaml"), str(CONFIGS / "pretrain" / "sl.yaml")
LINEAR = str(CONFIGS / "finetune" / "linear.yaml")
ADVERSARIAL = str(CONFIGS / "adversarial" / "pretrain_pgd.yaml")


def write(path: Path, content: bytes | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def truncated_copy(source: Path, target: Path) -> str:
    return write(target, source.read_bytes()[: source.stat().st_size // 2])


# name -> (config, extra arguments (a callable of the work folder gives files), text the line must hold)
CASES: dict[str, tuple[str, object, str]] = {
    "unknown backbone": (CL, ["--model.init_args.backbone", "vgg16"], "backbone"),
    "unknown dataset": (CL, ["--data.init_args.dataset", "mnist"], "dataset"),
    "zero batch size": (CL, ["--data.init_args.batch_size", "0"], "batch_size"),
    "negative batch size": (SL, ["--data.init_args.batch_size", "-8"], "batch_size"),
    "batch size larger than the data": (SL, ["--data.init_args.batch_size", "64"], "batch_size"),
    "zero temperature": (CL, ["--model.init_args.temperature", "0"], "temperature"),
    "negative temperature": (CL, ["--model.init_args.temperature", "-0.1"], "temperature"),
    "zero learning rate": (SL, ["--model.init_args.lr", "0"], "lr"),
    "negative learning rate": (SL, ["--model.init_args.lr", "-0.1"], "lr"),
    "negative weight decay": (SL, ["--model.init_args.weight_decay", "-1"], "weight_decay"),
    "momentum of 1": (SL, ["--model.init_args.momentum", "1.0"], "momentum"),
    "unknown optimizer": (SL, ["--model.init_args.optimizer", "rmsprop"], "optimizer"),
    "unknown scheduler": (SL, ["--model.init_args.scheduler", "step"], "scheduler"),
    "negative warm-up": (SL, ["--model.init_args.warmup_epochs", "-1"], "warmup_epochs"),
    "unknown views": (CL, ["--model.init_args.views", "mixup"], "views"),
    "no views for contrastive learning": (CL, ["--model.init_args.views", "none"], "views"),
    "unknown model class_path": (CL, ["--model.class_path", "cl_robust.methods.MoCo"], "'MoCo'"),
    "backbone width not a multiple of 4": (CL, ["--model.init_args.backbone_width", "10"], "backbone_width"),
    "negative order seed": (SL, ["--data.init_args.order_seed", "-1"], "order_seed"),
    "unknown data class_path": (CL, ["--data.class_path", "cl_robust.data.STL10"], "'STL10'"),
    "unknown option": (CL, ["--model.init_args.learning_rate", "0.1"], "learning_rate"),
    "option of the wrong type": (CL, ["--trainer.max_epochs", "ten"], "max_epochs"),
    "missing config file": (CL, ["--config", "nowhere/cl.yaml"], "nowhere/cl.yaml"),
    "config that is not YAML": (CL, lambda d: ["--config", write(d / "bad.yaml", "model: [unclosed\n")], "bad.yaml"),
    "zero images per class": (SL, ["--data.init_args.per_class", "0"], "per_class"),
    "more images per class than the data has": (SL, ["--data.init_args.per_class", "50"], "per_class"),
    "validation takes every image": (SL, ["--data.init_args.per_class", "2", "--data.init_args.val_per_class", "2"],
                                     "val_per_class"),
    "more test images per class than the data has": (SL, ["--data.init_args.test_per_class", "9"], "test_per_class"),
    "negative num_workers": (SL, ["--data.init_args.num_workers", "-1"], "num_workers"),
    "data root is a file": (SL, lambda d: ["--data.init_args.root", write(d / "root.txt", "x")], "root"),
    "data root without the data set": (SL, lambda d: ["--data.init_args.root", str(d / "empty")],
                                       "cifar-10-batches-py"),
    "cifar100 asked, cifar10 present": (SL, ["--data.init_args.dataset", "cifar100"], "cifar100"),
    "eps given as 8 instead of 8/255": (CL, ["--config", ADVERSARIAL, "--adversarial.init_args.eps", "8"], "eps"),
    "eps that is not a number": (CL, ["--config", ADVERSARIAL, "--adversarial.init_args.eps", "eight"], "eps"),
    "negative attack steps": (CL, ["--config", ADVERSARIAL, "--adversarial.init_args.steps", "-1"], "steps"),
    "unknown attack norm": (CL, ["--config", ADVERSARIAL, "--adversarial.init_args.norm", "l1"], "norm"),
    "GPU asked on a machine without one": (SL, ["--trainer.accelerator", "gpu"], "gpu"),
    "resume checkpoint that does not exist": (SL, ["--ckpt_path", "nowhere/last.ckpt"], "nowhere/last.ckpt"),
    "resume checkpoint that is not a checkpoint": (SL, lambda d: ["--ckpt_path", write(d / "notes.ckpt", "hello")],
                                                   "notes.ckpt"),
    "resume checkpoint of another model": (SL, lambda d: ["--ckpt_path", foreign_checkpoint(d)], "foreign.ckpt"),
    "resume checkpoint that is a plain tensor file": (SL, lambda d: ["--ckpt_path", tensor_file(d)], "tensors.ckpt"),
}


def foreign_checkpoint(folder: Path) -> str:
    """A Lightning checkpoint of a different architecture (resnet18 weights for a resnet_tiny run)."""
    from cl_robust.methods import SupervisedLearning

    model = SupervisedLearning(backbone="resnet18")
    path = folder / "foreign.ckpt"
    torch.save({"state_dict": model.state_dict(), "global_step": 1, "epoch": 0, "loops": {},
                "pytorch-lightning_version": "2.6.0"}, path)
    return str(path)


def tensor_file(folder: Path) -> str:
    path = folder / "tensors.ckpt"
    torch.save({"weights": torch.zeros(3)}, path)
    return str(path)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line(case: str, synthetic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    config, extra, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    extra_args = extra(tmp_path) if callable(extra) else extra
    args = ["fit", "--config", config, *tiny_args(synthetic_root), *run_dir_args(tmp_path / "run"), *extra_args]
    code, err = cli_in_process(args, capsys)
    lines = error_lines(err)
    assert code == 2, err[-3000:]
    assert len(lines) == 1 and expected in lines[0], err[-3000:]
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())


@pytest.fixture
def pretrained(synthetic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> Path:
    """A finished 2-step pretraining run's last.ckpt."""
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(synthetic_root), *run_dir_args(tmp_path / "pre")],
                               capsys)
    assert code == 0, err[-2000:]
    return tmp_path / "pre" / "checkpoints" / "last.ckpt"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_truncated_last_checkpoint_on_resume(pretrained: Path, synthetic_root: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Re-running the same command with a truncated last.ckpt: one line naming it and what to do."""
    pretrained.write_bytes(pretrained.read_bytes()[:1000])
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(synthetic_root), *run_dir_args(tmp_path / "pre")],
                               capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert str(pretrained) in lines[0] and "truncated" in lines[0] and "--ckpt_path null" in lines[0]


@pytest.mark.parametrize("problem", ["missing", "truncated", "foreign", "tensors"])
def test_bad_finetuning_checkpoint_leaves_pretraining_alone(problem: str, pretrained: Path, synthetic_root: str,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(pretrained)
    source = {"missing": lambda: str(tmp_path / "nowhere.ckpt"),
              "truncated": lambda: truncated_copy(pretrained, tmp_path / "half.ckpt"),
              "foreign": lambda: write(tmp_path / "notes.ckpt", "not a checkpoint"),
              "tensors": lambda: tensor_file(tmp_path)}[problem]()
    code, err = cli_in_process(["fit", "--config", LINEAR, *tiny_args(synthetic_root)[2:],
                                *run_dir_args(tmp_path / "fine"), "--model.init_args.pretrained_checkpoint", source],
                               capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert "pretrained_checkpoint" in lines[0] or "checkpoint" in lines[0]
    assert Path(source).name in lines[0]
    assert digest(pretrained) == before


def test_num_classes_mismatch_in_library_use(synthetic_root: str) -> None:
    import lightning as L

    from cl_robust.data import CIFARDataModule
    from cl_robust.errors import ConfigError
    from cl_robust.methods import SupervisedLearning

    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(ConfigError, match="num_classes: the model has 100 classes but the data has 10"):
        trainer.fit(SupervisedLearning(backbone="resnet_tiny", num_classes=100),
                    CIFARDataModule(root=synthetic_root, batch_size=8))


def test_corrupt_cifar_batch_file(synthetic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    (batch,) = root.rglob("data_batch_1")
    batch.write_bytes(batch.read_bytes()[:100])
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(str(root)), *run_dir_args(tmp_path / "run")],
                               capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]


def test_corrupt_image_in_image_folder(synthetic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from cl_robust.data.synthetic import write_synthetic_cifar

    written = Path(write_synthetic_cifar(str(tmp_path / "folder"), "cifar10", 4, 2, layout="image_folder"))
    broken = sorted(written.rglob("train/*/*.png"))[0]
    root = broken.parents[2]  # the folder holding train/ and test/
    broken.write_bytes(b"not an image")
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process(["fit", "--config", SL, *tiny_args(str(root)), *run_dir_args(tmp_path / "run"),
                                "--data.class_path", "cl_robust.data.ImageFolderDataModule",
                                "--data.init_args.root", str(root)], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert broken.name in lines[0]


SUBPROCESS_CASES = {
    "unknown backbone": ["--model.init_args.backbone", "vgg16"],
    "missing config file": ["--config", "nowhere.yaml"],
    "resume checkpoint that does not exist": ["--ckpt_path", "nowhere/last.ckpt"],
}


@pytest.mark.parametrize("case", list(SUBPROCESS_CASES))
def test_bad_input_in_a_real_process(case: str, synthetic_root: str, tmp_path: Path, warm_server: WarmServer) -> None:
    done = cli_subprocess(["fit", "--config", SL, *tiny_args(synthetic_root), *run_dir_args(tmp_path / "run"),
                           *SUBPROCESS_CASES[case]], cwd=tmp_path, warm_server=warm_server)
    assert done.returncode == 2
    assert len(error_lines(done.stderr)) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
