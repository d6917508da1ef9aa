"""The ``adversarial`` CLI key: absent means no callback; an overlay adds one; bad input is one line."""
from pathlib import Path

import pytest

from cl_robust.callbacks import AdversarialPretraining, AdversarialTraining
from cl_robust.cli import RobustCLI, main
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.methods.base import RobustMethod

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
OVERLAYS = CONFIGS / "adversarial"


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", train_per_class=2, test_per_class=1)
    return ["--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
            "--data.init_args.batch_size", "8", "--trainer.max_steps", "1", "--trainer.enable_progress_bar", "false"]


def built_trainer_callbacks(args: list[str]) -> list[object]:
    cli = RobustCLI(RobustMethod, CIFARDataModule, subclass_mode_model=True, subclass_mode_data=True, args=args,
                    run=False, auto_configure_optimizers=False)
    return cli.trainer.callbacks


def test_no_adversarial_key_means_no_adversarial_callback(tiny: list[str]) -> None:
    callbacks = built_trainer_callbacks(["--config", str(CONFIGS / "pretrain" / "cl.yaml"), *tiny])
    assert None not in callbacks
    assert not any(isinstance(c, AdversarialTraining) for c in callbacks)


def test_overlay_adds_the_callback_with_its_settings(tiny: list[str]) -> None:
    callbacks = built_trainer_callbacks(["--config", str(CONFIGS / "pretrain" / "cl.yaml"),
                                         "--config", str(OVERLAYS / "pretrain_pgd.yaml"),
                                         "--config", str(OVERLAYS / "eps16.yaml"), *tiny,
                                         "--adversarial.init_args.steps", "3"])
    (adversarial,) = [c for c in callbacks if isinstance(c, AdversarialTraining)]
    assert isinstance(adversarial, AdversarialPretraining) and not adversarial.pair
    attack = adversarial.attack
    assert (attack.method, attack.norm, attack.eps, attack.step_size, attack.steps, attack.random_start) == (
        "pgd", "linf", 16 / 255, 0.01, 3, False)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and the error line; exactly one line of stderr is the error (Lightning may log before it)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    assert errors == lines[-1:], lines
    return int(exit_info.value.code or 0), lines[-1]


BAD_OPTIONS = {
    "negative eps": ("--adversarial.init_args.eps=-1", "eps"),
    "eps above one": ("--adversarial.init_args.eps=8", "eps"),
    "eps not a number": ("--adversarial.init_args.eps=eight", "eps"),
    "zero steps": ("--adversarial.init_args.steps=0", "steps"),
    "zero step size": ("--adversarial.init_args.step_size=0", "step_size"),
    "negative step size": ("--adversarial.init_args.step_size=-0.01", "step_size"),
    "unknown norm": ("--adversarial.init_args.norm=l3", "norm"),
    "unknown method": ("--adversarial.init_args.method=bim", "method"),
    "unknown bn_mode": ("--adversarial.init_args.bn_mode=frozen", "bn_mode"),
    "negative weight": ("--adversarial.init_args.adv_weight=-1", "adv_weight"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_attack_option_is_one_line(case: str, tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    option, name = BAD_OPTIONS[case]
    code, err = run_cli(["fit", "--config", str(CONFIGS / "pretrain" / "cl.yaml"),
                         "--config", str(OVERLAYS / "pretrain_pgd.yaml"), *tiny, option], capsys)
    assert code == 2
    assert err.startswith("cl-robust: error:") and name in err and "\n" not in err, err
    assert not Path("runs").exists(), "nothing trained"


WRONG_MODEL = {
    "fine-tuning on a supervised model": ("sl", "finetune_pgd.yaml", "needs a pretrained checkpoint"),
    "fine-tuning on a SimCLR model": ("cl", "finetune_trades.yaml", "needs a pretrained checkpoint"),
    "contrastive attack on a supervised model": ("sl", "pretrain_pgd.yaml", "contrastive"),
    "cross-entropy training of a SupCon model": ("scl", "supervised_pgd.yaml", "AdversarialPretraining"),
}


@pytest.mark.parametrize("case", sorted(WRONG_MODEL))
def test_callback_on_the_wrong_model_is_one_line_before_training(case: str, tiny: list[str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    scheme, overlay, words = WRONG_MODEL[case]
    code, err = run_cli(["fit", "--config", str(CONFIGS / "pretrain" / f"{scheme}.yaml"),
                         "--config", str(OVERLAYS / overlay), *tiny], capsys)
    assert code == 2
    assert err.startswith("cl-robust: error:") and words in err and "\n" not in err, err
    assert not list(Path("runs").rglob("*.ckpt")), "no training step ran"
