"""Feature passes in float32 or bf16: the dtype they record and what they do to CKA."""
import pytest
import torch

from cl_robust.analysis import LayerRecorder, MinibatchCKA, block_names
from cl_robust.analysis.feature_pass import feature_pass
from cl_robust.errors import ConfigError
from cl_robust.models.backbones import build_backbone


def _cka(model: torch.nn.Module, images: torch.Tensor, precision: str) -> tuple[torch.Tensor, torch.dtype]:
    layers = block_names(model)
    metric = MinibatchCKA(len(layers))
    with LayerRecorder(model, layers) as recorder:
        for batch in images.split(16):
            feature_pass(model, batch, precision)
            features = recorder.features()
            metric.update(features)
    return metric.compute(), features[0].dtype


def test_bf16_records_bfloat16_features_and_cka_stays_close_to_float32() -> None:
    torch.manual_seed(0)
    model = build_backbone("resnet_tiny").eval()
    images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    exact, exact_dtype = _cka(model, images, "32")
    fast, fast_dtype = _cka(model, images, "bf16")
    assert exact_dtype == torch.float32 and fast_dtype == torch.bfloat16
    difference = (fast - exact).abs().max().item()
    assert 0 < difference < 1e-2  # bf16 activations change the estimate, by little


def test_unknown_precision_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"precision must be one of '32', 'bf16'; got '16'"):
        feature_pass(torch.nn.Identity(), torch.zeros(1), "16")
