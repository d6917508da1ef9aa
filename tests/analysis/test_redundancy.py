"""Redundancy scores on hand-made CKA matrices."""
import math

import pytest
import torch

from cl_robust.analysis.redundancy import redundancy_scores
from cl_robust.errors import ConfigError


def block_matrix(n: int, start: int, end: int, inside: float = 0.95, outside: float = 0.2) -> torch.Tensor:
    cka = torch.full((n, n), outside)
    cka[start : end + 1, start : end + 1] = inside
    cka.fill_diagonal_(1.0)
    return cka


def test_known_block_and_means() -> None:
    cka = block_matrix(6, 1, 3)
    scores = redundancy_scores(cka, threshold=0.9)
    assert scores["largest_block"] == 3 and scores["largest_block_fraction"] == pytest.approx(0.5)
    assert (scores["block_start"], scores["block_end"]) == (1, 3)
    # off-diagonal: 6 block entries at 0.95, 24 at 0.2
    assert scores["mean_offdiagonal"] == pytest.approx((6 * 0.95 + 24 * 0.2) / 30)
    assert scores["mean_all"] == pytest.approx((6 * 1.0 + 6 * 0.95 + 24 * 0.2) / 36)


def test_block_needs_every_pair_not_only_neighbours() -> None:
    # 0-1 and 1-2 are similar but 0-2 is not: the largest block has size 2, the first one wins ties.
    cka = torch.tensor([[1.0, 0.95, 0.5], [0.95, 1.0, 0.95], [0.5, 0.95, 1.0]])
    scores = redundancy_scores(cka)
    assert (scores["largest_block"], scores["block_start"], scores["block_end"]) == (2, 0, 1)


def test_no_similar_layers_gives_block_of_one_and_threshold_matters() -> None:
    cka = block_matrix(4, 0, 3, inside=0.8)
    assert redundancy_scores(cka, threshold=0.9)["largest_block"] == 1
    assert redundancy_scores(cka, threshold=0.7)["largest_block"] == 4


def test_single_layer_and_bad_input() -> None:
    scores = redundancy_scores(torch.ones(1, 1))
    assert math.isnan(scores["mean_offdiagonal"]) and scores["largest_block"] == 1
    with pytest.raises(ConfigError, match="square"):
        redundancy_scores(torch.ones(2, 3))
    with pytest.raises(ConfigError, match="NaN"):
        redundancy_scores(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
