"""The analysis sees redundancy where it is known to exist: planted copies of a layer, a trained net vs its start."""
from __future__ import annotations

import torch
from torch import nn

from cl_robust.analysis import LayerRecorder, MinibatchCKA, redundancy_scores


class PlantedCopies(nn.Module):
    """Six layers; with ``copies`` the middle four pass their input on unchanged (a block of identical outputs)."""

    def __init__(self, copies: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        width = 64
        self.first = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, width), nn.ReLU())
        self.middle = nn.ModuleList(
            [nn.Identity() if copies else nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(4)])
        self.last = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)
        for layer in self.middle:
            x = layer(x)
        return self.last(x)


def _scores(model: nn.Module) -> dict[str, float]:
    names = ["first", *[f"middle.{i}" for i in range(4)], "last"]
    metric = MinibatchCKA(len(names))
    generator = torch.Generator().manual_seed(1)
    with LayerRecorder(model, names) as recorder, torch.no_grad():
        for _ in range(5):
            model(torch.rand(64, 3, 8, 8, generator=generator))
            metric.update(recorder.features())
    return redundancy_scores(metric.compute(), threshold=0.99)


def test_planted_copies_form_the_largest_block_and_raise_every_score() -> None:
    planted, plain = _scores(PlantedCopies(copies=True)), _scores(PlantedCopies(copies=False))
    assert planted["largest_block"] == 5 and (planted["block_start"], planted["block_end"]) == (0, 4)
    assert plain["largest_block"] < 5
    assert planted["mean_offdiagonal"] > plain["mean_offdiagonal"] + 0.05
    assert planted["mean_all"] > plain["mean_all"]
