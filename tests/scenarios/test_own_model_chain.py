"""A backbone the library does not define goes through the whole chain: pretraining (with adversarial training),
fine-tuning, resume, evaluate and analyze, at CIFAR's 32 pixels and on 64- and 96-pixel image folders."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cl_robust.cli import main
from cl_robust.data.synthetic import write_synthetic_cifar

from .conftest import ADVERSARIAL, CONFIGS, fit, load, one_thread, tiny_args

ATTACK = ["--adversarial.init_args.steps", "1"]


def command(args: list[str]) -> dict:
    """Run ``cl-robust evaluate`` / ``analyze`` and return the JSON it wrote."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert not exit_info.value.code, f"cl-robust {args[0]} exited with {exit_info.value.code}"
    output = Path(args[args.index("--output") + 1])
    return json.loads((output / ("robustness.json" if args[0] == "evaluate" else "analysis.json")).read_text())


def run_dir(name: str) -> list[str]:
    return ["--trainer.default_root_dir", f"runs/{name}", "--trainer.logger.init_args.save_dir", f"runs/{name}",
            "--checkpoint.dirpath", f"runs/{name}/checkpoints"]


def image_folder(root: str, size: int) -> list[str]:
    return ["--data.class_path", "cl_robust.data.ImageFolderDataModule", "--data.init_args.root", f"{root}/cifar10",
            "--data.init_args.image_size", str(size)]


def test_a_callable_backbone_pretrains_resumes_and_its_checkpoint_needs_no_further_options(
        scenario_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_models: str) -> None:
    monkeypatch.chdir(tmp_path)
    pretrain = ["--config", str(CONFIGS / "pretrain" / "cl.yaml"), *tiny_args(scenario_root),
                "--model.init_args.backbone", "user_models:small_encoder", "--model.init_args.backbone_args",
                '{"width": 4}', *run_dir("cl")]
    with one_thread():
        fit(pretrain)
        fit([*pretrain, "--trainer.max_steps", "3"])  # the same command with more steps resumes from last.ckpt
    checkpoint = load(tmp_path / "runs/cl/checkpoints/last.ckpt")
    assert checkpoint["global_step"] == 3
    metadata = checkpoint["cl_robust"]
    assert (metadata["backbone"], metadata["backbone_args"], metadata["feature_dim"]) == (
        "user_models:small_encoder", {"width": 4}, 8)
    assert metadata["normalization"]["source"] == "cifar10: the full training set's published statistics"
    last = str(tmp_path / "runs/cl/checkpoints/last.ckpt")
    data = ["--data.root", scenario_root, "--device", "cpu"]
    report = command(["evaluate", "--checkpoint", last, *data, "--attacks", "clean", "pgd20:steps=1",
                      "--output", "results/eval"])
    assert [r["total"] for r in report["results"]] == [20, 20]
    analysis = command(["analyze", "--checkpoint", last, *data, "--batch_size", "10", "--attack_steps", "1",
                        "--probe_train_per_class", "2", "--bootstrap", "10", "--output", "results/analyze"])
    assert analysis["layers"][0] == "encoder.net.0" and analysis["layers"][-1] == "classifier"
    assert "untrained" in analysis and "probes" in analysis
    with one_thread():
        fit(["--config", str(CONFIGS / "finetune" / "linear.yaml"), *tiny_args(scenario_root),
             "--model.init_args.pretrained_checkpoint", last, *run_dir("linear")])
    probe = str(tmp_path / "runs/linear/checkpoints/last.ckpt")
    assert load(Path(probe))["cl_robust"]["backbone"] == "user_models:small_encoder"
    assert command(["evaluate", "--checkpoint", probe, *data, "--attacks", "clean", "--output",
                    "results/probe"])["results"][0]["total"] == 20


BACKBONES = ["torchvision:resnet18", pytest.param("timm:resnet18", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("timm") is None, reason="timm is the optional extra cl_robust[timm]"))]


@pytest.mark.slow  # a ResNet-18 at 64 pixels: about 20 s a backbone on 2 CPU cores
@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_library_resnet_goes_through_the_adversarial_chain_on_64_pixel_images(
        backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", train_per_class=1, test_per_class=1,
                                 layout="image_folder", image_size=64)
    monkeypatch.chdir(tmp_path)
    data = [*tiny_args(root, steps=1), *image_folder(root, 64)]
    with one_thread():
        fit(["--config", str(CONFIGS / "pretrain" / "cl.yaml"), "--config", str(ADVERSARIAL / "pretrain_pgd.yaml"),
             *ATTACK, *data, "--model.init_args.backbone", backbone, "--model.init_args.projection_dim", "16",
             *run_dir("at")])
        pretrained = tmp_path / "runs/at/checkpoints/last.ckpt"
        fit(["--config", str(CONFIGS / "finetune" / "full.yaml"), "--config", str(ADVERSARIAL / "finetune_pgd.yaml"),
             *ATTACK, *data, "--model.init_args.pretrained_checkpoint", str(pretrained), *run_dir("full_at")])
    checkpoint = load(tmp_path / "runs/full_at/checkpoints/last.ckpt")
    metadata = checkpoint["cl_robust"]
    assert (metadata["backbone"], metadata["image_size"], metadata["pretrained_scheme"]) == (backbone, 64, "cl")
    assert metadata["normalization"]["source"].startswith("the pretrained encoder's (computed from the 10 training")
    assert "AdversarialFineTuning" in checkpoint["callbacks"]  # the adversarial callback trained it
    finetuned = str(tmp_path / "runs/full_at/checkpoints/last.ckpt")
    data = ["--data.dataset", "image_folder", "--data.root", f"{root}/cifar10", "--data.image_size", "64",
            "--device", "cpu"]
    report = command(["evaluate", "--checkpoint", finetuned, *data, "--attacks", "clean", "pgd20:steps=1",
                      "tm1:steps=1", "--output", "results/eval"])
    assert [r["total"] for r in report["results"]] == [10, 10, 10] and report["dataset"]["image_size"] == 64
    analysis = command(["analyze", "--checkpoint", finetuned, *data, "--batch_size", "5", "--attack_steps", "1",
                        "--layers", "layer*.?", "--probe_train_per_class", "1", "--bootstrap", "0",
                        "--baseline_bn_images", "10", "--output", "results/analyze"])
    assert analysis["layers"] == [f"encoder.net.layer{stage}.{block}" for stage in range(1, 5) for block in (0, 1)]


@pytest.mark.slow  # four commands
def test_a_96_pixel_image_folder_through_pretraining_fine_tuning_evaluate_and_analyze(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_models: str) -> None:
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", train_per_class=1, test_per_class=1,
                                 layout="image_folder", image_size=96)
    monkeypatch.chdir(tmp_path)
    data = [*tiny_args(root, steps=1), *image_folder(root, 96)]
    with one_thread():
        fit(["--config", str(CONFIGS / "pretrain" / "sl.yaml"), *data, "--model.init_args.backbone",
             "user_models:small_encoder", *run_dir("sl")])
        fit(["--config", str(CONFIGS / "finetune" / "linear.yaml"), *data, "--model.init_args.pretrained_checkpoint",
             str(tmp_path / "runs/sl/checkpoints/last.ckpt"), *run_dir("linear")])
    probe = str(tmp_path / "runs/linear/checkpoints/last.ckpt")
    assert load(Path(probe))["cl_robust"]["image_size"] == 96
    data = ["--data.dataset", "image_folder", "--data.root", f"{root}/cifar10", "--data.image_size", "96",
            "--device", "cpu"]
    assert command(["evaluate", "--checkpoint", probe, *data, "--attacks", "clean", "fgsm", "--output",
                    "results/eval"])["dataset"]["image_size"] == 96
    analysis = command(["analyze", "--checkpoint", probe, *data, "--batch_size", "5", "--attack_steps", "1",
                        "--probe_train_per_class", "1", "--bootstrap", "0", "--baseline_bn_images", "10",
                        "--output", "results/analyze"])
    assert len(analysis["clean"]["cka"]) == len(analysis["layers"]) > 3


def test_dual_bn_channels_last_and_pair_attacks_on_a_callable_backbone(scenario_root: str, user_models: str) -> None:
    """ACL's dual BatchNorm, both views attacked, and the channels_last speed option on a foreign backbone."""
    import lightning as L

    from cl_robust.callbacks import AdversarialPretraining
    from cl_robust.data import CIFARDataModule
    from cl_robust.methods import SimCLR
    from cl_robust.methods.performance import FastModel, is_channels_last
    from cl_robust.models.dual_bn import dual_norms

    model = SimCLR(backbone="user_models:small_encoder", dual_bn=True, projection_dim=8)
    before = {name: norm.clean.running_mean.clone() for name, norm in enumerate(dual_norms(model.encoder))}
    attack = AdversarialPretraining(steps=1, pair=True, random_start=True, step_size="2/255")
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[attack, FastModel(channels_last=True)])
    with one_thread():
        trainer.fit(model, CIFARDataModule(root=scenario_root, batch_size=8))
    norms = dual_norms(model.encoder)
    assert is_channels_last(model.encoder) and len(norms) == 2
    for index, norm in enumerate(norms):  # both branches trained, on different inputs
        assert not torch.equal(norm.clean.running_mean, before[index])
        assert not torch.equal(norm.clean.running_mean, norm.adversarial.running_mean)
    assert float(trainer.callback_metrics["train/adv_loss"]) > 0


@pytest.mark.slow  # two processes
def test_a_callable_backbone_trains_adversarially_under_ddp(scenario_root: str, tmp_path: Path,
                                                            user_models: str) -> None:
    """``--trainer.strategy ddp`` with two gloo ranks: the user's module (imported by each rank from its spec)
    trains with the adversarial pretraining term; the run ends with its checkpoint."""
    import subprocess
    import sys

    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    args = ["fit", "--config", str(CONFIGS / "pretrain" / "cl.yaml"), "--config", str(ADVERSARIAL / "pretrain_pgd.yaml"),
            *ATTACK, *tiny_args(scenario_root), "--model.init_args.backbone", "user_models:small_encoder",
            "--trainer.strategy", "ddp", "--trainer.devices", "2", *run_dir("ddp")]
    done = subprocess.run([sys.executable, "-m", "cl_robust.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = load(tmp_path / "runs/ddp/checkpoints/last.ckpt")
    assert checkpoint["global_step"] == 2 and checkpoint["cl_robust"]["backbone"] == "user_models:small_encoder"
    assert "AdversarialPretraining" in checkpoint["callbacks"]
