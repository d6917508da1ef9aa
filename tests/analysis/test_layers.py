"""LayerRecorder and the layer-name helpers."""
import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from cl_robust.analysis.layers import LayerRecorder, all_module_names, block_names
from cl_robust.errors import ConfigError


def tiny_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def all_hooks(model: nn.Module) -> list[object]:
    return [h for m in model.modules() for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())]


def test_features_in_requested_order_and_detached() -> None:
    model = tiny_model()
    x = torch.randn(5, 4)
    with LayerRecorder(model, ["2", "0"]) as rec:
        out = model(x)
        last, first = rec.features()
    torch.testing.assert_close(last, out)
    torch.testing.assert_close(first, model[0](x))
    assert not last.requires_grad and first.shape == (5, 8)


def test_detach_false_keeps_graph_and_to_cpu() -> None:
    model = tiny_model()
    with LayerRecorder(model, ["1"], detach=False, to_cpu=True) as rec:
        model(torch.randn(2, 4))
        (relu_out,) = rec.features()
    assert relu_out.requires_grad and relu_out.device.type == "cpu"


def test_hooks_removed_on_exit_and_after_an_exception() -> None:
    model = tiny_model()
    with LayerRecorder(model, ["0", "2"]) as rec:
        model(torch.randn(2, 4))
        rec.features()
    assert not all_hooks(model)
    with pytest.raises(RuntimeError, match="boom"), LayerRecorder(model, ["0"]):
        raise RuntimeError("boom")
    assert not all_hooks(model) and not model._forward_hooks


def test_each_forward_starts_a_fresh_recording() -> None:
    model = tiny_model()
    first_x, second_x = torch.randn(2, 4), torch.randn(3, 4)
    with LayerRecorder(model, ["0"]) as rec:
        model(first_x)
        model(second_x)
        (latest,) = rec.features()
    torch.testing.assert_close(latest, model[0](second_x))


def test_module_called_twice_keeps_both_calls_and_plain_name_is_an_error() -> None:
    model = resnet18(num_classes=10).eval()
    x = torch.rand(2, 3, 32, 32)
    with LayerRecorder(model, ["layer1.0.relu#0", "layer1.0.relu#1", "layer1.0.bn1", "layer1.0"]) as rec:
        model(x)
        first, second, bn1, block_out = rec.features()
        assert rec.call_counts()["layer1.0.relu"] == 2
    torch.testing.assert_close(first, torch.relu(bn1))
    torch.testing.assert_close(second, block_out)
    assert not torch.equal(first, second)
    with LayerRecorder(model, ["layer1.0.relu"]) as rec:
        model(x)
        with pytest.raises(ConfigError, match=r"ran 2 times.*'layer1.0.relu#0', 'layer1.0.relu#1'"):
            rec.features()
    with LayerRecorder(model, ["layer1.0.relu#2"]) as rec:
        model(x)
        with pytest.raises(ConfigError, match="ran only 2 time"):
            rec.features()


def test_unknown_name_lists_valid_names_with_a_suggestion() -> None:
    model = resnet18(num_classes=10)
    with pytest.raises(ConfigError, match=r"unknown module 'layer1.0.rleu'.*Did you mean 'layer1.0.relu'.*Valid names: 'conv1'") as info:
        LayerRecorder(model, ["layer1.0.rleu"])
    message = str(info.value)
    assert "\n" not in message and "more" in message  # 67 names, truncated
    with pytest.raises(ConfigError, match="call index"):
        LayerRecorder(model, ["layer1.0.relu#x"])
    with pytest.raises(ConfigError, match="non-empty list"):
        LayerRecorder(model, "conv1")


def test_block_names_of_resnets_and_fallback() -> None:
    expected = [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)] + ["avgpool"]
    assert block_names(resnet18()) == expected
    assert block_names(tiny_model()) == ["0", "1", "2"]


def test_block_names_of_the_cifar_backbone_run_once_each() -> None:
    backbones = pytest.importorskip("cl_robust.models.backbones")
    model = backbones.build_backbone("resnet_tiny").eval()
    names = block_names(model)
    assert names == ["layer1.0", "layer2.0", "layer3.0", "layer4.0", "avgpool"]
    with LayerRecorder(model, names) as rec:
        model(torch.rand(4, 3, 32, 32))
        features = rec.features()
    assert [f.shape[0] for f in features] == [4] * 5


def test_all_module_names_skips_root_and_containers() -> None:
    model = resnet18()
    names = all_module_names(model)
    assert "" not in names and "layer1" not in names and "layer2.0.downsample" not in names
    assert {"conv1", "layer1.0", "layer1.0.relu", "layer2.0.downsample.0", "fc"} <= set(names)
    assert len(names) == len(list(model.named_modules())) - 1 - 4 - 3  # root, 4 stages, 3 downsamples


def test_direct_submodule_calls_accumulate_until_clear() -> None:
    model = tiny_model()
    with LayerRecorder(model, ["0"]) as rec:
        model[0](torch.randn(2, 4))
        model[0](torch.randn(2, 4))
        with pytest.raises(ConfigError, match="ran 2 times"):
            rec.features()
        rec.clear()
        x = torch.randn(3, 4)
        model[0](x)
        torch.testing.assert_close(rec.features()[0], model[0](x))


def test_recorded_batchnorm_output_keeps_its_negative_values() -> None:
    """torchvision's blocks write ReLU and the shortcut into bn1 / bn2 outputs in place; records are copies."""
    model = resnet18(num_classes=10).eval()
    images = torch.rand(4, 3, 32, 32)
    names = ["layer1.0.bn1", "layer1.0.bn2", "layer1.0"]
    with LayerRecorder(model, names) as recorder, torch.no_grad():
        model(images)
        bn1, bn2, block = recorder.features()
    with torch.no_grad():  # what the modules really returned, recomputed step by step
        x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        block_module = model.layer1[0]
        true_bn1 = block_module.bn1(block_module.conv1(x))
        true_bn2 = block_module.bn2(block_module.conv2(torch.relu(true_bn1)))
    assert bn1.min() < 0 and bn2.min() < 0
    assert torch.allclose(bn1, true_bn1, atol=1e-6) and torch.allclose(bn2, true_bn2, atol=1e-6)
    assert not torch.allclose(bn2, block)  # the block output is bn2 + shortcut, then ReLU


def test_all_layers_follow_the_forward_pass() -> None:
    """Registration order differs from forward order (``forward`` calls them in another order)."""
    from cl_robust.analysis.layer_selection import resolve_layers

    class Backwards(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.late = nn.Linear(6, 3)
            self.early = nn.Flatten()
            self.middle = nn.Linear(3 * 32 * 32, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.late(torch.relu(self.middle(self.early(x))))

    model = Backwards()
    assert all_module_names(model) == ["late", "early", "middle"]
    assert resolve_layers(model, "all") == ["early", "middle", "late"]
    # A module run twice is listed once per call, each where its output appears.
    net = resnet18(num_classes=10)
    layers = resolve_layers(net, "all")
    assert layers.index("layer1.0.bn1") < layers.index("layer1.0.relu#0") < layers.index("layer1.0.bn2")
    assert layers.index("layer1.0.bn2") < layers.index("layer1.0.relu#1") < layers.index("layer1.0")
    assert layers.index("layer1.0") < layers.index("layer1.1.conv1") and layers[-1] == "fc"


def test_largest_block_is_read_on_the_forward_order() -> None:
    """A block of similar layers is contiguous in forward order; in registration order it is split."""
    from cl_robust.analysis.redundancy import redundancy_scores

    forward = ["a", "b", "c", "d"]  # b and c (and only they) are near copies
    registration = ["b", "a", "d", "c"]
    similar = {("b", "c"), ("c", "b")}

    def matrix(order: list[str]) -> torch.Tensor:
        return torch.tensor([[1.0 if i == j else 0.95 if (i, j) in similar else 0.3 for j in order] for i in order])

    assert redundancy_scores(matrix(forward))["largest_block"] == 2
    assert redundancy_scores(matrix(registration))["largest_block"] == 1
