"""The ACL overlay (examples/configs/adversarial/acl.yaml: both views attacked, dual BatchNorm) trains,
fine-tunes, evaluates and analyses end to end through ``cl-robust``."""
import json
import os
from pathlib import Path

import pytest
import torch

from cl_robust.cli import main

from .conftest import ADVERSARIAL, ATTACK_STEPS, CONFIGS, fit, load, logged_columns, one_thread, tiny_args

KINDS = [pytest.param("synthetic"), pytest.param("real", marks=pytest.mark.real_data)]


def command(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert not exit_info.value.code, f"cl-robust {args[0]} exited with {exit_info.value.code}"


@pytest.fixture(scope="module", params=KINDS)
def root(request: pytest.FixtureRequest, scenario_root: str) -> str:
    if request.param == "synthetic":
        return scenario_root
    real = os.environ.get("CL_ROBUST_TEST_DATA")
    if not real or not os.path.isdir(real):
        pytest.skip("CL_ROBUST_TEST_DATA is not set to a real CIFAR subset")
    return real


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, root: str) -> dict[str, Path]:
    """ACL pretraining, then linear (both branches) and adversarial full fine-tuning from it."""
    data = [*tiny_args(root), "--data.init_args.per_class", "4", "--data.init_args.test_per_class", "2"]
    checkpoints: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as patch, one_thread():
        folder = tmp_path_factory.mktemp("acl")
        patch.chdir(folder)
        fit(["--config", str(CONFIGS / "pretrain" / "cl.yaml"), "--config", str(ADVERSARIAL / "acl.yaml"),
             *ATTACK_STEPS, "--model.init_args.backbone", "resnet_tiny", *data])
        checkpoints["pretrain"] = folder / "runs" / "pretrain" / "cl" / "checkpoints" / "last.ckpt"
        finetunings = {"linear": ("linear", []), "linear_clean": ("linear", ["--model.init_args.bn_branch", "clean"]),
                       "full_at": ("full", ["--config", str(ADVERSARIAL / "finetune_pgd.yaml"), *ATTACK_STEPS])}
        for name, (config, extra) in finetunings.items():
            (folder / name).mkdir()
            patch.chdir(folder / name)
            fit(["--config", str(CONFIGS / "finetune" / f"{config}.yaml"), *extra, *data,
                 "--model.init_args.pretrained_checkpoint", str(checkpoints["pretrain"])])
            checkpoints[name] = folder / name / "runs" / "finetune" / config / "checkpoints" / "last.ckpt"
    return checkpoints


def test_acl_pretraining_trains_both_branches(runs: dict[str, Path]) -> None:
    checkpoint = load(runs["pretrain"])
    assert checkpoint["cl_robust"]["dual_bn"] is True
    attack = checkpoint["callbacks"]["AdversarialPretraining"]
    assert attack["attack"]["random_start"] and attack["attack"]["step_size"] == pytest.approx(2 / 255)
    assert attack["adv_weight"] == attack["clean_weight"] == 0.5
    state = checkpoint["state_dict"]
    for branch in ("clean", "adversarial"):
        assert int(state[f"encoder.bn1.{branch}.num_batches_tracked"]) == 2, f"{branch} branch ran in both steps"
    assert not torch.equal(state["encoder.bn1.clean.running_mean"], state["encoder.bn1.adversarial.running_mean"])
    assert {"train/contrastive", "train/adv_loss"} <= logged_columns(runs["pretrain"].parents[1])


def test_fine_tuning_uses_the_chosen_branch_only(runs: dict[str, Path]) -> None:
    pretrained = load(runs["pretrain"])["state_dict"]
    for name, branch in (("linear", "adversarial"), ("linear_clean", "clean"), ("full_at", "adversarial")):
        checkpoint = load(runs[name])
        assert checkpoint["cl_robust"]["bn_branch"] == branch and checkpoint["cl_robust"]["dual_bn"] is True
        other = "clean" if branch == "adversarial" else "adversarial"
        key = f"encoder.layer1.0.bn1.{other}.running_mean"
        assert torch.equal(checkpoint["state_dict"][key], pretrained[key]), "the other branch never moves"
    full = load(runs["full_at"])["state_dict"]
    key = "encoder.layer1.0.bn1.adversarial.running_mean"
    assert not torch.equal(full[key], pretrained[key]), "full fine-tuning trains the adversarial branch"


def test_evaluate_and_analyze_a_dual_bn_model(runs: dict[str, Path], root: str, tmp_path: Path) -> None:
    evaluation, analysis = tmp_path / "evaluate", tmp_path / "analyze"
    data = ["--data.root", root, "--data.test_per_class", "2", "--device", "cpu"]
    command(["evaluate", "--checkpoint", str(runs["full_at"]), *data, "--batch_size", "10", "--output",
             str(evaluation), "--attacks", "clean", "fgsm", "pgd20:steps=2", "tm1:steps=2"])
    report = json.loads((evaluation / "robustness.json").read_text())
    assert [r["name"] for r in report["results"]] == ["clean", "fgsm", "pgd20:steps=2", "tm1:steps=2"]
    assert all(r["total"] == 20 for r in report["results"])
    assert report["checkpoint"]["metadata"]["bn_branch"] == "adversarial"
    command(["analyze", "--checkpoint", str(runs["full_at"]), *data, "--batch_size", "10", "--attack_steps", "2",
             "--probe_train_per_class", "2", "--adversarial", "8/255", "--output", str(analysis)])
    result = json.loads((analysis / "analysis.json").read_text())
    assert len(result["clean"]["cka"]) == len(result["layers"]) and "init_bn" in result["untrained"]
    command(["analyze", "--checkpoint", str(runs["linear_clean"]), *data, "--batch_size", "10", "--layers", "all",
             "--no_probes", "--adversarial", "none", "--no_baseline", "--output", str(tmp_path / "all")])
    layers = json.loads((tmp_path / "all" / "analysis.json").read_text())["layers"]
    norms = [layer for layer in layers if ".bn" in layer or "downsample.1" in layer]
    assert norms and all(layer.endswith(".clean") for layer in norms), "each norm once, through its branch"
