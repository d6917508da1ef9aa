"""The `reference` layer set against torch_cka run directly on the same model and images."""

import copy
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cl_robust.analysis import MinibatchCKA
from cl_robust.analysis.redundancy import redundancy_scores
from cl_robust.analysis.reference_layers import ROOT, ReferenceRecorder, reference_layers
from cl_robust.cli import main
from cl_robust.commands.checkpoint import load_classifier
from cl_robust.data.cifar import load_split
from cl_robust.errors import ConfigError
from cl_robust.models.backbones import build_backbone

torch_cka = pytest.importorskip("torch_cka")


class _Classifier(nn.Module):
    """Encoder + linear head, every module on the forward path (torch_cka needs that)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = build_backbone("resnet_tiny")
        self.classifier = nn.Linear(self.encoder.feature_dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))


class _TorchCKAFloat64(torch_cka.CKA):
    """torch_cka with its own HSIC formula evaluated in float64.

    Stock torch_cka evaluates the unbiased HSIC on uncentred Gram matrices in float32, where its
    large terms cancel: on this model entries move by up to 0.03 (logits against pooled features)
    and the whole-matrix mean by about 4e-4. The same formula in float64 isolates what the layer
    set and the estimator give.
    """

    def _HSIC(self, K: torch.Tensor, L: torch.Tensor) -> float:  # noqa: N802, N803 (torch_cka's names)
        K, L = K.double(), L.double()  # noqa: N806
        n = K.shape[0]
        ones = torch.ones(n, 1, dtype=torch.float64)
        result = torch.trace(K @ L)
        result += ((ones.t() @ K @ ones @ ones.t() @ L @ ones) / ((n - 1) * (n - 2))).item()
        result -= ((ones.t() @ K @ L @ ones) * 2 / (n - 2)).item()
        return (1 / (n * (n - 3)) * result).item()


def _theirs(cka_class: type, model: nn.Module, images: torch.Tensor) -> dict:
    """torch_cka as the reference study called it: no layer list, so every named module is hooked."""
    cka = cka_class(model, model, model1_name="a", model2_name="b", device="cpu")
    with pytest.warns(UserWarning, match="Dataloader for Model 2"):
        cka.compare(DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=16))
    return cka.export()


def _ours(model: nn.Module, batches: list[torch.Tensor]) -> tuple[list[str], torch.Tensor]:
    layers = reference_layers(model, (32, 32))
    metric = MinibatchCKA(len(layers))
    with ReferenceRecorder(model, layers) as recorder, torch.no_grad():
        for images in batches:
            model(images)
            metric.update(recorder.features())
    return layers, metric.compute()


def test_reference_selection_equals_torch_cka_on_the_same_model_and_images() -> None:
    torch.manual_seed(0)
    model = _Classifier().eval()
    images = torch.rand(48, 3, 32, 32)
    layers, ours = _ours(model, list(images.split(16)))
    exported = _theirs(_TorchCKAFloat64, copy.deepcopy(model), images)  # torch_cka never removes its hooks
    expected = exported["CKA"].to(torch.float64)
    assert len(layers) == len(exported["model1_layers"]) == expected.shape[0] == 45
    assert torch.allclose(ours, expected, atol=1e-4), (ours - expected).abs().max()
    assert abs(redundancy_scores(ours)["mean_all"] - expected.mean().item()) < 1e-4


def test_reference_statistic_equals_stock_torch_cka_up_to_its_float32_rounding() -> None:
    torch.manual_seed(0)
    model = _Classifier().eval()
    images = torch.rand(48, 3, 32, 32)
    _, ours = _ours(model, list(images.split(16)))
    stock = _theirs(torch_cka.CKA, copy.deepcopy(model), images)["CKA"].to(torch.float64)
    assert abs(ours.mean().item() - stock.mean().item()) < 1e-3
    assert (ours - stock).abs().max() < 0.05


def test_records_follow_torch_cka_not_copies() -> None:
    """A block's bn2 record is its output after the shortcut and the in-place ReLU; a twice-run ReLU keeps its last call."""
    torch.manual_seed(0)
    model = _Classifier().eval()
    layers = reference_layers(model, (32, 32))
    block = "encoder.layer1.0"
    assert layers.index(f"{block}.relu") < layers.index(f"{block}.conv2")  # the place of its first call
    assert layers[0] == "encoder.normalize" and layers[-1] == ROOT
    with ReferenceRecorder(model, layers) as recorder, torch.no_grad():
        logits = model(torch.rand(8, 3, 32, 32))
        records = dict(zip(layers, recorder.features(), strict=True))
    assert torch.equal(records[f"{block}.bn2"], records[block])
    assert torch.equal(records[f"{block}.relu"], records[block])
    assert torch.equal(records[f"{block}.bn1"].clamp(min=0), records[f"{block}.bn1"])  # ReLU'd in place
    assert torch.equal(records[ROOT], logits) and torch.equal(records["classifier"], logits)


def test_modules_that_do_not_run_are_left_out() -> None:
    model = _Classifier()
    model.projection = nn.Linear(4, 4)  # never called in forward
    assert "projection" not in reference_layers(model, (32, 32))
    with pytest.raises(ConfigError, match="no module named 'nothing'"):
        ReferenceRecorder(model, ["nothing"])


def test_analyze_reports_the_reference_statistic_as_torch_cka_gives_it(tmp_path: Path, tiny_checkpoints: ModuleType,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """One batch holding the whole test split: analysis.json's reference matrix is torch_cka's on the loaded model."""
    tiny = tiny_checkpoints
    root = tiny.synthetic_data(tmp_path / "data", test_per_class=2)
    checkpoint = tiny.supervised_checkpoint(root, tmp_path, steps=5)
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "--checkpoint", str(checkpoint), "--data.root", root, "--batch_size", "20", "--adversarial",
              "none", "--no_probes", "--bootstrap", "0", "--baseline_bn_images", "16", "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    report = json.loads((tmp_path / "out" / "analysis.json").read_text())
    # The headline: our redundancy beside its untrained baseline, then the reference statistic beside its own.
    line = capsys.readouterr().out.splitlines()[-2]
    ours, untrained = report["clean"]["redundancy"]["mean_offdiagonal"], report["untrained"]["reestimated_bn"]
    assert line.startswith(f"redundancy {ours:.3f} (mean off-diagonal CKA, {len(report['layers'])} layers")
    assert f"untrained {untrained['redundancy']['mean_offdiagonal']:.3f} (BN re-estimated)" in line
    assert f"reference statistic {report['reference']['clean']['redundancy']['mean_all']:.3f}" in line
    reference = report["reference"]
    layers = reference["layers"]
    assert layers[-1] == ROOT and "encoder.layer1" in layers and "classifier" in layers
    assert set(reference["untrained"]) == {"init_bn", "reestimated_bn"} and reference["adversarial"] == {}
    model = load_classifier(checkpoint).model
    images, labels, _ = load_split("cifar10", root, "test")
    cka = _TorchCKAFloat64(model, model, model1_name="a", model2_name="b",
                           model1_layers=["" if name == ROOT else name for name in layers],
                           model2_layers=["" if name == ROOT else name for name in layers])
    with pytest.warns(UserWarning, match="Dataloader for Model 2"):
        cka.compare(DataLoader(TensorDataset(images.float() / 255, labels), batch_size=20))
    expected = cka.export()["CKA"].to(torch.float64)
    ours = torch.tensor(reference["clean"]["cka"], dtype=torch.float64)
    assert torch.allclose(ours, expected, atol=1e-4), (ours - expected).abs().max()
    assert reference["clean"]["redundancy"]["mean_all"] == pytest.approx(expected.mean().item(), abs=1e-4)
