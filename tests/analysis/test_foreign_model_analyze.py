"""``cl-robust analyze --model SPEC --weights FILE``: CKA, patterns, baseline and comparisons on a model from elsewhere.

On one batch holding the whole test split the minibatch CKA is the full-batch unbiased CKA
(Nguyen et al. 2021; HSIC_1 of Song et al. 2012), computed here independently from features
recorded with plain forward hooks.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from cl_robust.cli import main
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.synthetic import write_synthetic_cifar

from ..conftest import user_model_folders

MODEL = "user_models:small_classifier"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0), capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, nn.Module]:
    """Synthetic CIFAR-10 (2 test images a class) and a randomly initialised user model saved as a plain state dict."""
    import sys

    folder = tmp_path_factory.mktemp("foreign_analyze")
    root = write_synthetic_cifar(str(folder / "data"), "cifar10", train_per_class=8, test_per_class=2)
    folders = user_model_folders()
    sys.path[:0] = folders
    try:
        import user_models

        torch.manual_seed(5)
        model = user_models.small_classifier().eval()
    finally:
        del sys.path[:len(folders)]
    with torch.no_grad():  # running statistics away from their initial values
        model.stem[1].running_mean.uniform_(-0.2, 0.2)
    torch.save(model.state_dict(), folder / "weights.pt")
    return root, folder / "weights.pt", model


def hsic1(gram_k: Tensor, gram_l: Tensor) -> Tensor:
    """Unbiased HSIC (Song et al. 2012, Eq. 5), written as in the paper."""
    n = gram_k.shape[0]
    k, m = gram_k.clone(), gram_l.clone()
    k.fill_diagonal_(0)
    m.fill_diagonal_(0)
    ones = torch.ones(n, 1, dtype=k.dtype)
    term = torch.trace(k @ m) + (ones.T @ k @ ones) * (ones.T @ m @ ones) / ((n - 1) * (n - 2)) \
        - 2 / (n - 2) * (ones.T @ k @ m @ ones)
    return term.squeeze() / (n * (n - 3))


def full_batch_cka(features: list[Tensor]) -> Tensor:
    grams = [f.flatten(1).double() @ f.flatten(1).double().T for f in features]
    values = torch.zeros(len(grams), len(grams), dtype=torch.float64)
    for i, first in enumerate(grams):
        for j, second in enumerate(grams):
            values[i, j] = hsic1(first, second) / torch.sqrt(hsic1(first, first) * hsic1(second, second))
    return values


def test_cka_on_one_whole_batch_is_the_full_batch_unbiased_cka(setting: tuple[str, Path, nn.Module], tmp_path: Path,
                                                               user_models: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    root, weights, model = setting
    code, err = run(["analyze", "--model", MODEL, "--weights", str(weights), "--data.root", root, "--batch_size", "20",
                     "--layers", "block?,pool,fc", "--adversarial", "none", "--no_probes", "--no_baseline",
                     "--bootstrap", "0", "--device", "cpu", "--output", str(tmp_path)], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "analysis.json").read_text())
    assert report["layers"] == ["block1", "block2", "pool", "fc"] and report["settings"]["num_batches"] == 1
    data = CIFARDataModule("cifar10", root=root, batch_size=1)
    data.setup("test")
    recorded: dict[str, Tensor] = {}
    handles = [getattr(model, name).register_forward_hook(
        lambda _m, _i, output, name=name: recorded.__setitem__(name, output.detach().clone()))
        for name in ("block1", "block2", "pool", "fc")]
    with torch.no_grad():
        model(data.test_set.images.float() / 255)
    for handle in handles:
        handle.remove()
    expected = full_batch_cka([recorded[name] for name in ("block1", "block2", "pool", "fc")])
    assert torch.allclose(torch.tensor(report["clean"]["cka"], dtype=torch.float64), expected, atol=1e-3)


def test_patterns_baseline_bootstrap_probes_and_a_comparison_with_our_checkpoint(
        setting: tuple[str, Path, nn.Module], tmp_path: Path, user_models: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Everything analyze does on our checkpoints, on theirs; --compare mixes a checkpoint with a foreign model."""
    import lightning as L

    from cl_robust.methods import SupervisedLearning

    root, weights, model = setting
    ours = SupervisedLearning(backbone="resnet_tiny")
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(ours)
    trainer.save_checkpoint(tmp_path / "ours.ckpt")
    code, err = run(["analyze", "--checkpoint", str(tmp_path / "ours.ckpt"), "--compare_model", MODEL,
                     "--compare_weights", str(weights), "--layers", "**.layer?.?,block?", "--data.root", root,
                     "--batch_size", "5", "--attack_steps", "1", "--bootstrap", "20", "--probe_train_per_class", "4",
                     "--baseline_bn_images", "20", "--device", "cpu", "--output", str(tmp_path / "mixed")], capsys)
    assert code != 0 and "the pattern 'block?' matches no module of the SupervisedLearning model" in err
    code, err = run(["analyze", "--model", MODEL, "--weights", str(weights), "--compare", str(tmp_path / "ours.ckpt"),
                     "--layers", "blocks", "--data.root", root, "--batch_size", "5", "--attack_steps", "1",
                     "--bootstrap", "20", "--probe_train_per_class", "4", "--baseline_bn_images", "20",
                     "--device", "cpu", "--output", str(tmp_path / "theirs")], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "theirs" / "analysis.json").read_text())
    assert report["layers"] == ["stem", "block1", "block2", "pool", "fc"]
    assert report["compare"]["layers"][-1] == "classifier" and len(report["compare"]["cka_between"]) == 5
    assert "interval" in report["clean"] and len(report["probes"]["layers"]) == 5
    assert set(report["untrained"]) >= {"init_bn", "reestimated_bn"} and report["untrained"]["seed"] == 0
    assert report["untrained"]["init_bn"]["cka"] != report["clean"]["cka"]  # another network: the callable re-run
    code, err = run(["analyze", "--model", MODEL, "--weights", str(weights), "--layers", "stem.?,block*",
                     "--data.root", root, "--batch_size", "5", "--adversarial", "none", "--no_probes", "--bootstrap",
                     "0", "--device", "cpu", "--output", str(tmp_path / "again")], capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "analysis.json").read_text())
    assert again["layers"] == ["stem.0", "stem.1", "stem.2", "block1", "block2"]  # forward order, containers kept


def test_untrained_baseline_of_a_foreign_model_is_its_callable_under_the_seed(setting: tuple[str, Path, nn.Module],
                                                                              user_models: str) -> None:
    from cl_robust.analysis.baseline import untrained_copy
    from cl_robust.commands.foreign_model import load_foreign_classifier

    root, weights, model = setting
    loaded = load_foreign_classifier(MODEL, {}, str(weights), None, 32, 10)
    fresh = untrained_copy(loaded.model, seed=7, fresh=loaded.fresh)
    import user_models as module

    torch.manual_seed(7)
    expected = module.small_classifier()
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in expected.state_dict().items())
    assert not torch.equal(fresh.fc.weight, loaded.model.fc.weight) and not fresh.training
