"""The fast paths compute what the plain ones do: device data, hue, channels_last, bf16, compile."""
from __future__ import annotations

import copy
import os

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from cl_robust.attacks import AttackConfig, cross_entropy_attack
from cl_robust.data import augment
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.device_data import IndexBatch, check_on_device
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError
from cl_robust.methods.performance import FastModel, apply_speed_options, is_channels_last
from cl_robust.models.backbones import build_backbone


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_cifar(tmp_path_factory.mktemp("cifar"), "cifar10", 20, 10, "torchvision")


def _batches(root: str, on_device: bool, epochs: int = 2) -> list[tuple[Tensor, Tensor]]:
    module = CIFARDataModule(root=root, batch_size=32, seed=3, on_device=on_device)
    module.setup("fit")
    out = []
    for _ in range(epochs):
        for batch in module.train_dataloader():
            if on_device:
                assert isinstance(batch, IndexBatch)
            out.append(module.transfer_batch_to_device(batch, torch.device("cpu"), 0))
    for batch in module.val_dataloader():
        out.append(module.transfer_batch_to_device(batch, torch.device("cpu"), 0))
    return out


def test_device_path_gives_the_host_path_batches(cifar_root: str) -> None:
    host, device = _batches(cifar_root, False), _batches(cifar_root, True)
    assert len(host) == len(device) > 2
    for (images, labels), (device_images, device_labels) in zip(host, device, strict=True):
        assert torch.equal(images, device_images) and torch.equal(labels, device_labels)
        assert device_images.dtype == torch.uint8


def test_auto_gathers_on_the_device_only_off_the_cpu(cifar_root: str) -> None:
    module = CIFARDataModule(root=cifar_root, batch_size=32)
    assert module.on_device == "auto" and not module.gathers_on_device()
    assert check_on_device("true") is True
    with pytest.raises(ConfigError, match="on_device"):
        check_on_device("gpu")


def _sector_hue(images: Tensor, factor: Tensor) -> Tensor:
    """Hue rotation through torchvision's RGB -> HSV -> RGB sector formulas (the former implementation)."""
    red, green, blue = images.unbind(dim=1)
    max_c, min_c = images.amax(dim=1), images.amin(dim=1)
    chroma, equal = max_c - min_c, max_c == min_c
    saturation = chroma / torch.where(equal, torch.ones_like(max_c), max_c)
    safe = torch.where(equal, torch.ones_like(chroma), chroma)
    rc, gc, bc = (max_c - red) / safe, (max_c - green) / safe, (max_c - blue) / safe
    hue = ((max_c == red) * (bc - gc) + ((max_c == green) & (max_c != red)) * (2.0 + rc - bc)
           + ((max_c != green) & (max_c != red)) * (4.0 + gc - rc))
    hue = torch.remainder(torch.remainder(hue / 6.0 + 1.0, 1.0) + factor.view(-1, 1, 1), 1.0)
    sector = torch.floor(hue * 6.0)
    fraction = hue * 6.0 - sector
    sector = sector.to(torch.int64) % 6
    p = max_c * (1.0 - saturation)
    q = max_c * (1.0 - saturation * fraction)
    t = max_c * (1.0 - saturation * (1.0 - fraction))
    table = [(max_c, t, p), (q, max_c, p), (p, max_c, t), (p, q, max_c), (t, p, max_c), (max_c, p, q)]
    out = torch.zeros_like(images)
    for index, channels in enumerate(table):
        mask = (sector == index).unsqueeze(1)
        out = torch.where(mask, torch.stack(channels, dim=1), out)
    return out


def test_fast_hue_and_brightness_equal_the_former_formulas() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 16, 16), generator=generator).float() / 255
    images[:4] = images[:4, :1]  # grey: hue undefined
    images[4:8, 1] = images[4:8, 0]  # ties between channels
    shifts = torch.rand(64, generator=generator) - 0.5
    torch.testing.assert_close(augment.adjust_hue(images, shifts), _sector_hue(images, shifts), atol=1e-5, rtol=0)
    factors = torch.rand(64, generator=generator) * 2
    former = (factors.view(-1, 1, 1, 1) * images).clamp(0, 1)
    assert torch.equal(augment.adjust_brightness(images, factors), former)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    encoder = build_backbone("resnet_tiny")
    model = torch.nn.Sequential(encoder, torch.nn.Linear(encoder.feature_dim, 10))
    return model.eval()


def _inputs() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(16, 3, 32, 32, generator=generator), torch.randint(0, 10, (16,), generator=generator)


def _logits_and_input_gradient(model: torch.nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    images = images.clone().requires_grad_(True)
    logits = model(images)
    (gradient,) = torch.autograd.grad(F.cross_entropy(logits.float(), labels), images)
    return logits.detach().float(), gradient


def test_channels_last_equals_contiguous_fp32() -> None:
    plain = _model()
    fast = copy.deepcopy(plain)
    apply_speed_options(fast[0], channels_last=True)
    assert is_channels_last(fast[0]) and fast[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    images, labels = _inputs()
    logits, gradient = _logits_and_input_gradient(plain, images, labels)
    fast_logits, fast_gradient = _logits_and_input_gradient(fast, images, labels)
    torch.testing.assert_close(fast_logits, logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast_gradient, gradient, atol=1e-4, rtol=1e-4)
    config = AttackConfig(steps=3)
    adversarial = cross_entropy_attack(plain, images, labels, config)
    fast_adversarial = cross_entropy_attack(fast, images, labels, config)
    # Sign steps flip only where a gradient entry is ~0: nearly every pixel is identical.
    assert (adversarial == fast_adversarial).float().mean() > 0.99
    torch.testing.assert_close(F.cross_entropy(fast(fast_adversarial), labels),
                               F.cross_entropy(plain(adversarial), labels), atol=1e-3, rtol=0)


def test_bf16_autocast_is_close_to_fp32() -> None:
    """bf16 keeps 8 bits of mantissa: logits within 0.05 (absolute) and the loss within 2 %."""
    model = _model()
    apply_speed_options(model[0], channels_last=True)
    images, labels = _inputs()
    logits = model(images)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(images)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), logits, atol=5e-2, rtol=0)
    loss, low_loss = F.cross_entropy(logits, labels), F.cross_entropy(low.float(), labels)
    assert abs(low_loss - loss) / loss < 0.02


def test_fast_model_callback_trains_a_channels_last_encoder() -> None:
    from cl_robust.callbacks import AdversarialFineTuning
    from cl_robust.methods.finetune import FineTune

    module = FineTune(pretrained={"scheme": "sl", "backbone": "resnet_tiny"}, mode="full")
    from torch.utils.data import DataLoader

    from cl_robust.data.datamodule import TensorBatchDataset, passthrough_collate

    images, labels = _inputs()
    loader = DataLoader(TensorBatchDataset((images * 255).to(torch.uint8), labels), batch_size=8,
                        collate_fn=passthrough_collate)
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, precision="bf16-mixed",
                        callbacks=[FastModel(channels_last=True), AdversarialFineTuning(steps=2)])
    trainer.fit(module, train_dataloaders=loader)
    assert is_channels_last(module.encoder)
    assert module.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


@pytest.mark.skipif(os.environ.get("CL_ROBUST_TEST_COMPILE") != "1",
                    reason="torch.compile of even the tiny backbone takes over a minute on a 2-core CPU; "
                           "set CL_ROBUST_TEST_COMPILE=1 to run it")
def test_compiled_model_equals_eager() -> None:
    plain = _model()
    compiled = copy.deepcopy(plain)
    apply_speed_options(compiled[0], compile=True)
    assert list(compiled.state_dict()) == list(plain.state_dict())
    images, labels = _inputs()
    logits, gradient = _logits_and_input_gradient(plain, images, labels)
    compiled_logits, compiled_gradient = _logits_and_input_gradient(compiled, images, labels)
    torch.testing.assert_close(compiled_logits, logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(compiled_gradient, gradient, atol=1e-4, rtol=1e-4)
