"""Bad inputs of the semi-supervised mixes and of dual BatchNorm through ``cl-robust fit``: one line naming
the option and what it accepts, exit status 2, nothing trained (rows of docs/bad_inputs.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.methods import SimCLR

from ..reliability.conftest import cli_in_process, error_lines, run_dir_args, tiny_args
from .conftest import CONFIGS
from .test_finetune import save_pretrained

CL_SCL, SCL_SL = str(CONFIGS / "pretrain" / "cl+scl.yaml"), str(CONFIGS / "pretrain" / "scl+sl.yaml")
CL, LINEAR = str(CONFIGS / "pretrain" / "cl.yaml"), str(CONFIGS / "finetune" / "linear.yaml")


def checkpoint(folder: Path, dual_bn: bool) -> str:
    path = folder / ("dual.ckpt" if dual_bn else "plain.ckpt")
    return str(save_pretrained(SimCLR(backbone="resnet_tiny", projection_dim=8, dual_bn=dual_bn), path))


# name -> (config, extra arguments (a callable of the work folder gives files), text the line must hold)
CASES: dict[str, tuple[str, object, str]] = {
    "labelled fraction of 0": (CL_SCL, ["--model.init_args.labeled_fraction", "0"],
                               "labeled_fraction must be a number in (0, 1]"),
    "labelled fraction above 1": (CL_SCL, ["--model.init_args.labeled_fraction", "1.5"],
                                  "labeled_fraction must be a number in (0, 1]"),
    "labelled fraction that rounds far from itself": (
        CL_SCL, ["--model.init_args.labeled_fraction", "0.01"],
        "labeled_fraction 0.01 would label 10 of 40 training images (0.25, 25 times what was asked: each class "
        "labels round(fraction x its images), at least 1); with 4 images in the smallest class the nearest possible "
        "value is 0.25; ask for it, or train on at least 50 images a class (per_class) for 0.01"),
    "a mix with a scheme that has no labels to mix": (CL_SCL, ["--model.init_args.mix", "cl"],
                                                       "cl leaves no labels to mix"),
    "loss weight of a term the mix does not have": (SCL_SL, ["--model.init_args.loss_weights", "{nt_xent: 1}"],
                                                     "loss_weights: scl+sl has no term 'nt_xent'"),
    "dual BatchNorm without adversarial training": (CL, ["--model.init_args.dual_bn", "true"],
                                                    "dual_bn: true needs adversarial training"),
    "BatchNorm branch for a checkpoint without dual BatchNorm": (
        LINEAR, lambda d: ["--model.init_args.pretrained_checkpoint", checkpoint(d, False),
                           "--model.init_args.bn_branch", "adversarial"], "was pretrained without dual_bn"),
    "unknown BatchNorm branch": (LINEAR, lambda d: ["--model.init_args.pretrained_checkpoint", checkpoint(d, True),
                                                    "--model.init_args.bn_branch", "pgd"],
                                 "bn_branch must be one of 'clean', 'adversarial'; got 'pgd'"),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_cifar(str(tmp_path_factory.mktemp("bad_mix")), "cifar10", train_per_class=4,
                                 test_per_class=2, layout="torchvision")


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line(case: str, root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    config, extra, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    extra_args = extra(tmp_path) if callable(extra) else extra
    code, err = cli_in_process(["fit", "--config", config, *tiny_args(root), *run_dir_args(tmp_path / "run"),
                                *extra_args], capsys)
    lines = error_lines(err)
    assert code == 2, err[-3000:]
    assert len(lines) == 1 and expected in lines[0], err[-3000:]
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())
