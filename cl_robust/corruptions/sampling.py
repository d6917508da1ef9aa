"""Random numbers of a corruption, drawn from one generator and delivered on the images' device.

Numbers are drawn on the generator's device (the CPU unless a CUDA generator is given) and then
moved, so a CPU generator with a given seed corrupts a batch the same way on a CPU and on a GPU.
Without a generator the default one of the images' device is used, as torch's own functions do.
"""

from __future__ import annotations

import torch
from torch import Tensor


class Draws:
    """Uniform, normal, integer and Poisson draws for one call of ``corrupt``."""

    def __init__(self, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> None:
        self.generator = generator
        self.device = device
        self.dtype = dtype
        self.source = generator.device if generator is not None else device

    def _deliver(self, values: Tensor) -> Tensor:
        return values.to(self.device)

    def uniform(self, shape: tuple[int, ...], low: float, high: float, dtype: torch.dtype | None = None) -> Tensor:
        """Uniform in [low, high)."""
        values = torch.rand(shape, generator=self.generator, device=self.source, dtype=dtype or self.dtype)
        return self._deliver(values * (high - low) + low)

    def normal(self, shape: tuple[int, ...], mean: float, sd: float, dtype: torch.dtype | None = None) -> Tensor:
        values = torch.randn(shape, generator=self.generator, device=self.source, dtype=dtype or self.dtype)
        return self._deliver(values * sd + mean)

    def integers(self, low: int, high: int, shape: tuple[int, ...]) -> Tensor:
        """Integers in [low, high), as numpy's ``randint``."""
        return self._deliver(torch.randint(low, high, shape, generator=self.generator, device=self.source))

    def poisson(self, rates: Tensor) -> Tensor:
        """One Poisson draw per element of ``rates``."""
        return self._deliver(torch.poisson(rates.to(self.source), generator=self.generator))
