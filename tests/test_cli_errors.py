"""Bad input to ``cl-robust`` gives one line naming the option, exit status 2, before training."""
from pathlib import Path

import pytest

from cl_robust.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0), capsys.readouterr().err.strip()


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from cl_robust.data.synthetic import write_synthetic_cifar

    monkeypatch.chdir(tmp_path)
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", train_per_class=4, test_per_class=2)
    return ["--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
            "--data.init_args.batch_size", "8", "--trainer.max_steps", "1", "--trainer.enable_progress_bar", "false"]


CASES = {
    "unknown backbone": (["--model.init_args.backbone", "vgg16"], "backbone"),
    "unknown dataset": (["--data.init_args.dataset", "mnist"], "dataset"),
    "zero batch size": (["--data.init_args.batch_size", "0"], "batch_size"),
    "negative temperature": (["--model.init_args.temperature", "-1"], "temperature"),
    "zero temperature": (["--model.init_args.temperature", "0"], "temperature"),
    "unknown optimizer": (["--model.init_args.optimizer", "rmsprop"], "optimizer"),
    "unknown views": (["--model.init_args.views", "mixup"], "views"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_option_is_one_line(case: str, tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    overrides, option = CASES[case]
    code, err = run_cli(["fit", "--config", str(CONFIGS / "pretrain" / "cl.yaml"), *tiny, *overrides], capsys)
    assert code == 2
    assert err.startswith("cl-robust: error:") and option in err and "\n" not in err
    assert not Path("runs/pretrain/cl/checkpoints").exists(), "nothing trained"


def test_data_root_that_is_a_file(tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "not_a_folder.txt"
    a_file.write_text("x")
    code, err = run_cli(["fit", "--config", str(CONFIGS / "pretrain" / "sl.yaml"), *tiny,
                         "--data.init_args.root", str(a_file)], capsys)
    assert code == 2 and "root" in err and "\n" not in err


def test_missing_data_names_both_layouts(tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["fit", "--config", str(CONFIGS / "pretrain" / "sl.yaml"), *tiny,
                         "--data.init_args.root", str(tmp_path / "empty")], capsys)
    assert code == 2 and "cifar-10-batches-py" in err and "CL_ROBUST_DATA" in err and "\n" not in err


def test_num_classes_mismatch(tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import lightning as L

    from cl_robust.data import CIFARDataModule
    from cl_robust.errors import ConfigError
    from cl_robust.methods import SupervisedLearning

    root = tiny[tiny.index("--data.init_args.root") + 1]
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(ConfigError, match="num_classes"):
        trainer.fit(SupervisedLearning(backbone="resnet_tiny", num_classes=100),
                    CIFARDataModule(root=root, batch_size=8))


def test_missing_finetune_checkpoint(tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["fit", "--config", str(CONFIGS / "finetune" / "linear.yaml"), *tiny[2:],
                         "--model.init_args.pretrained_checkpoint", "nowhere/last.ckpt"], capsys)
    assert code == 2 and "checkpoint" in err and "nowhere/last.ckpt" in err and "\n" not in err
