"""Every scenario of the study runs from its configs through the CLI, checkpoints chained.

Pretraining once per scheme and per st / at (module-scoped), then each fine-tuning scenario
from the right checkpoint with the right overlay, as in examples/configs/adversarial/README.md.
"""
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

PRETRAIN_OVERLAY = {"cl": "pretrain_pgd.yaml", "scl": "pretrain_pgd.yaml", "sl": "supervised_pgd.yaml"}

# scenario -> (pretraining: st or at, fine-tuning config, fine-tuning overlay or None)
CONTRASTIVE_SCENARIOS = {
    "st": ("st", "linear", None),
    "at": ("at", "linear", None),
    "partial_at": ("at", "linear", "finetune_pgd.yaml"),
    "full_at": ("at", "full", "finetune_pgd.yaml"),
    "st_partial_at": ("st", "linear", "finetune_pgd.yaml"),
    "st_full_at": ("st", "full", "finetune_pgd.yaml"),
}
SUPERVISED_FINETUNING = {
    "full_at": ("at", "full", "finetune_pgd.yaml"),
    "st_full_at": ("st", "full", "supervised_pgd.yaml"),  # AdversarialSupervised also serves FineTune
}
CASES = [(scheme, scenario, *spec) for scheme in ("cl", "scl") for scenario, spec in CONTRASTIVE_SCENARIOS.items()]
CASES += [("sl", scenario, *spec) for scenario, spec in SUPERVISED_FINETUNING.items()]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, scenario_root: str) -> dict[tuple[str, str], Path]:
    """Checkpoints of st and at pretraining for each scheme (tiny runs from the example configs)."""
    checkpoints = {}
    with pytest.MonkeyPatch.context() as patch, one_thread():
        for scheme in ("cl", "scl", "sl"):
            for kind in ("st", "at"):
                workdir = tmp_path_factory.mktemp(f"pretrain_{scheme}_{kind}")
                patch.chdir(workdir)
                overlay = ["--config", str(ADVERSARIAL / PRETRAIN_OVERLAY[scheme]), *ATTACK_STEPS] if kind == "at" else []
                fit(["--config", str(CONFIGS / "pretrain" / f"{scheme}.yaml"), *overlay,
                     "--model.init_args.backbone", "resnet_tiny", *tiny_args(scenario_root)])
                checkpoints[scheme, kind] = workdir / "runs" / "pretrain" / scheme / "checkpoints" / "last.ckpt"
    return checkpoints


@pytest.mark.parametrize("scheme", ["cl", "scl", "sl"])
@pytest.mark.parametrize("kind", ["st", "at"])
def test_pretraining(pretrained: dict[tuple[str, str], Path], scheme: str, kind: str) -> None:
    """sl st / at are complete scenarios; every pretraining records whether it was adversarial."""
    checkpoint = load(pretrained[scheme, kind])
    assert checkpoint["cl_robust"]["scheme"] == scheme and checkpoint["global_step"] == 2
    columns = logged_columns(pretrained[scheme, kind].parents[1])
    assert ("train/adv_loss" in columns) == (kind == "at")
    assert ("train/adv_acc_step" in columns) == (kind == "at")
    callback_states = checkpoint.get("callbacks", {})
    expected = "AdversarialPretraining" if scheme != "sl" else "AdversarialSupervised"
    assert (expected in callback_states) == (kind == "at")
    if kind == "at":
        assert callback_states[expected]["attack"]["eps"] == pytest.approx(8 / 255)


@pytest.mark.parametrize(("scheme", "scenario", "pretraining", "mode", "overlay"), CASES,
                         ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_finetuning_scenario(pretrained: dict[tuple[str, str], Path], scenario_root: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch, scheme: str, scenario: str, pretraining: str,
                             mode: str, overlay: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    finetune_and_check(pretrained[scheme, pretraining], scheme, mode, overlay, tiny_args(scenario_root), tmp_path)
