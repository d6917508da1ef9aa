"""Test images for the corruption tests: noisy, smooth and flat 32 x 32 RGB images (uint8)."""
import pytest
import torch
import torch.nn.functional as F


def make_images(count: int = 12, seed: int = 0) -> torch.Tensor:
    """A third pure noise, a third smooth (bilinear upsampling of 4 x 4 noise), a third flat blocks
    (flat areas are where 8-bit truncation of a filtered grey level is decided by float rounding)."""
    generator = torch.Generator().manual_seed(seed)
    third = count // 3
    noise = torch.randint(0, 256, (third, 3, 32, 32), generator=generator, dtype=torch.uint8)
    coarse = torch.rand(third, 3, 4, 4, generator=generator)
    smooth = (F.interpolate(coarse, size=32, mode="bilinear", align_corners=True) * 255).round().to(torch.uint8)
    levels = torch.randint(0, 256, (count - 2 * third, 3, 2, 2), generator=generator).float()
    blocks = F.interpolate(levels, size=32, mode="nearest").to(torch.uint8)
    return torch.cat([noise, smooth, blocks])


@pytest.fixture(scope="session")
def images() -> torch.Tensor:
    return make_images()
