"""Every semi-supervised mix (cl+scl, cl+sl, scl+sl) runs every scenario from its configs through the CLI,
on generated images and, when CL_ROBUST_TEST_DATA is set, on real CIFAR-10 images.

Pretraining once per mix and per st / at, then each fine-tuning scenario from the right checkpoint
with the right overlay, as in examples/configs/adversarial/README.md.
"""
import os
from pathlib import Path

import pytest

from .conftest import (
    ADVERSARIAL,
    ATTACK_STEPS,
    CONFIGS,
    finetune_and_check,
    fit,
    load,
    logged_columns,
    one_thread,
    tiny_args,
)
from .test_scenarios import CONTRASTIVE_SCENARIOS

MIXES = ("cl+scl", "cl+sl", "scl+sl")
CASES = [(mix, scenario, *spec) for mix in MIXES for scenario, spec in CONTRASTIVE_SCENARIOS.items()]
KINDS = [pytest.param("synthetic"), pytest.param("real", marks=pytest.mark.real_data)]


@pytest.fixture(scope="module", params=KINDS)
def data_args(request: pytest.FixtureRequest, scenario_root: str) -> list[str]:
    """Tiny-run arguments on generated images, or on 8 real CIFAR-10 images a class (skipped without them)."""
    if request.param == "synthetic":
        return tiny_args(scenario_root)
    root = os.environ.get("CL_ROBUST_TEST_DATA")
    if not root or not os.path.isdir(root):
        pytest.skip("CL_ROBUST_TEST_DATA is not set to a real CIFAR subset")
    return [*tiny_args(root), "--data.init_args.per_class", "8", "--data.init_args.test_per_class", "2"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, data_args: list[str]) -> dict[tuple[str, str], Path]:
    """st and at pretraining checkpoints of each mix, from examples/configs/pretrain/<mix>.yaml."""
    checkpoints = {}
    with pytest.MonkeyPatch.context() as patch, one_thread():
        for mix in MIXES:
            for kind in ("st", "at"):
                workdir = tmp_path_factory.mktemp(f"pretrain_{mix}_{kind}")
                patch.chdir(workdir)
                overlay = ["--config", str(ADVERSARIAL / "pretrain_pgd.yaml"), *ATTACK_STEPS] if kind == "at" else []
                fit(["--config", str(CONFIGS / "pretrain" / f"{mix}.yaml"), *overlay,
                     "--model.init_args.backbone", "resnet_tiny", *data_args])
                checkpoints[mix, kind] = workdir / "runs" / "pretrain" / mix / "checkpoints" / "last.ckpt"
    return checkpoints


@pytest.mark.parametrize("mix", MIXES)
@pytest.mark.parametrize("kind", ["st", "at"])
def test_pretraining(pretrained: dict[tuple[str, str], Path], mix: str, kind: str) -> None:
    checkpoint = load(pretrained[mix, kind])
    metadata = checkpoint["cl_robust"]
    assert metadata["scheme"] == mix and metadata["labeled_fraction"] == 0.5 and checkpoint["global_step"] == 2
    columns = logged_columns(pretrained[mix, kind].parents[1])
    terms = {"cl+scl": {"nt_xent", "supcon", "probe_ce"}, "cl+sl": {"nt_xent", "ce"}, "scl+sl": {"supcon", "ce"}}[mix]
    assert {f"train/{term}" for term in terms} <= columns
    assert ("train/adv_loss" in columns) == (kind == "at")
    assert ("AdversarialPretraining" in checkpoint.get("callbacks", {})) == (kind == "at")


@pytest.mark.parametrize(("mix", "scenario", "pretraining", "mode", "overlay"), CASES,
                         ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_finetuning_scenario(pretrained: dict[tuple[str, str], Path], data_args: list[str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch, mix: str, scenario: str, pretraining: str,
                             mode: str, overlay: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    finetune_and_check(pretrained[mix, pretraining], mix, mode, overlay,
                       [*data_args, "--model.init_args.expected_scheme", mix], tmp_path)
