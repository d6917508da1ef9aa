"""``cl-robust evaluate --model SPEC --weights FILE`` on a model the library has never seen.

The counts must be those computed directly: clean exactly, and PGD without random start within 2
points of an independent PGD loop written here (torchattacks does the attack inside evaluate).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cl_robust.cli import main
from cl_robust.data.datamodule import CIFARDataModule

from ..conftest import user_model_folders

EPS, STEP, STEPS = 8 / 255, 2 / 255, 10


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0), capsys.readouterr().err


def train_small_classifier(root: str, steps: int = 60) -> torch.nn.Module:
    """The user's model trained by the user's own loop (no cl_robust module), in eval mode."""
    import user_models

    torch.manual_seed(0)
    model = user_models.small_classifier()
    data = CIFARDataModule("cifar10", root=root, batch_size=32)
    data.setup()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    images, labels = data.train_set.images.float() / 255, data.train_set.labels
    for step in range(steps):
        batch = torch.randint(0, len(labels), (32,), generator=torch.Generator().manual_seed(step))
        loss = F.cross_entropy(model(images[batch]), labels[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def foreign_weights(data_root: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A RobustBench-style file: the state dict under ``state_dict``, keys prefixed ``module.``."""
    import sys

    folders = user_model_folders()
    sys.path[:0] = folders
    try:
        model = train_small_classifier(data_root)
    finally:
        del sys.path[:len(folders)]
    path = tmp_path_factory.mktemp("theirs") / "robust.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3}, path)
    return path, model


def independent_pgd(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L-inf PGD from the clean images (Madry et al. 2018), written out: x' = clip(x + clip(delta, eps))."""
    adversarial = images.clone()
    for _ in range(STEPS):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial), labels)
        (grad,) = torch.autograd.grad(loss, adversarial)
        delta = (adversarial.detach() + STEP * grad.sign() - images).clamp(-EPS, EPS)
        adversarial = (images + delta).clamp(0, 1)
    return adversarial.detach()


def test_evaluate_counts_what_a_direct_computation_counts(foreign_weights: tuple[Path, torch.nn.Module],
                                                          data_root: str, tmp_path: Path, user_models: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path, model = foreign_weights
    pgd = f"pgd20:steps={STEPS}:eps={EPS}:step={STEP}:random_start=false"
    code, err = run(["evaluate", "--model", "user_models:small_classifier", "--weights", str(path),
                     "--data.root", data_root, "--batch_size", "8", "--device", "cpu", "--output", str(tmp_path),
                     "--attacks", "clean", pgd, "fgsm", "tm1:steps=2"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "robustness.json").read_text())
    results = {r["name"]: r for r in report["results"]}
    data = CIFARDataModule("cifar10", root=data_root, batch_size=1, eval_batch_size=8)
    data.setup("test")
    images, labels = data.test_set.images.float() / 255, data.test_set.labels
    adversarial = independent_pgd(model, images, labels)
    with torch.no_grad():
        clean = int((model(images).argmax(dim=1) == labels).sum())
        robust = int((model(adversarial).argmax(dim=1) == labels).sum())
    assert results["clean"]["correct"] == clean and results["clean"]["total"] == len(labels) == 20
    assert abs(results[pgd]["accuracy"] - robust / len(labels)) <= 0.02
    assert results[pgd]["correct"] < clean  # the attack does something
    assert results["tm1:steps=2"]["skipped"] and "records no pretraining" in results["tm1:steps=2"]["skipped"]
    assert report["checkpoint"]["metadata"]["model"] == "user_models:small_classifier"
    assert report["checkpoint"]["metadata"]["weights"] == str(path) and report["worst_case"] and report["masking"]


def test_autoattack_and_normalisation_by_the_library(foreign_weights: tuple[Path, torch.nn.Module],
                                                      data_root: str, tmp_path: Path, user_models: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The original AutoAttack runs on a foreign model; ``--normalize`` puts the data's statistics in front."""
    path, _ = foreign_weights
    code, err = run(["evaluate", "--model", "user_models:small_classifier", "--weights", str(path), "--normalize",
                     "--data.mean", "0.5", "0.5", "0.5", "--data.std", "0.5", "0.5", "0.5",
                     "--data.root", data_root, "--data.test_per_class", "1", "--batch_size", "5", "--device", "cpu",
                     "--output", str(tmp_path), "--attacks", "clean", "autoattack:steps=2:queries=10"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "robustness.json").read_text())
    assert [r["total"] for r in report["results"]] == [10, 10]
    assert report["results"][1]["implementation"].startswith("pyautoattack")
    assert report["checkpoint"]["metadata"]["normalization"] == {"mean": [0.5] * 3, "std": [0.5] * 3,
                                                                 "source": "given (data mean and std)"}


@pytest.mark.slow  # two gloo processes
def test_two_devices_count_what_one_counts_for_a_foreign_model(foreign_weights: tuple[Path, torch.nn.Module],
                                                               data_root: str, tmp_path: Path, user_models: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = foreign_weights
    results = {}
    for devices in (1, 2):
        code, err = run(["evaluate", "--model", "user_models:small_classifier", "--weights", str(path),
                         "--data.root", data_root, "--batch_size", "6", "--device", "cpu", "--devices", str(devices),
                         "--output", str(tmp_path / str(devices)), "--attacks", "clean", "pgd20:steps=3"], capsys)
        assert code == 0, err
        report = json.loads((tmp_path / str(devices) / "robustness.json").read_text())
        results[devices] = [(r["name"], r["correct"], r["total"]) for r in report["results"]]
    assert results[1] == results[2]
