"""SupCon (L_out) against NT-Xent and a hand-computed example."""
import math

import pytest
import torch
import torch.nn.functional as F
from lightly.loss import NTXentLoss

from cl_robust.errors import ConfigError
from cl_robust.losses import SupConLoss


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_supcon_with_one_class_per_sample_equals_ntxent(temperature: float) -> None:
    z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
    ours = SupConLoss(temperature)(z1, z2, labels=torch.arange(16))
    unlabeled = SupConLoss(temperature)(z1, z2)
    reference = NTXentLoss(temperature=temperature)(z1, z2)
    assert torch.allclose(ours, reference, atol=1e-5)
    assert torch.allclose(unlabeled, reference, atol=1e-5)


def test_supcon_matches_hand_computed_example() -> None:
    # Two samples of class 0 and one of class 1; embeddings already unit length.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z2 = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    labels = torch.tensor([0, 0, 1])
    tau = 1.0
    anchors = torch.cat([z1, z2])
    y = torch.cat([labels, labels])
    total = 0.0
    for i in range(6):
        denominator = sum(math.exp(float(anchors[i] @ anchors[a]) / tau) for a in range(6) if a != i)
        positives = [p for p in range(6) if p != i and y[p] == y[i]]
        total += -sum(math.log(math.exp(float(anchors[i] @ anchors[p]) / tau) / denominator)
                      for p in positives) / len(positives)
    expected = total / 6
    assert SupConLoss(tau)(z1, z2, labels).item() == pytest.approx(expected, rel=1e-5)


def test_supcon_normalises_its_inputs() -> None:
    z1, z2, y = torch.randn(8, 4), torch.randn(8, 4), torch.randint(0, 3, (8,))
    loss = SupConLoss(0.1)
    assert torch.allclose(loss(z1, z2, y), loss(3 * F.normalize(z1), 0.5 * F.normalize(z2), y), atol=1e-5)


def test_gradients_flow_to_both_views() -> None:
    z1 = torch.randn(8, 4, requires_grad=True)
    z2 = torch.randn(8, 4, requires_grad=True)
    SupConLoss(0.1)(z1, z2, torch.randint(0, 2, (8,))).backward()
    assert z1.grad is not None and z1.grad.abs().sum() > 0
    assert z2.grad is not None and z2.grad.abs().sum() > 0


def test_more_same_class_pairs_aligned_lowers_the_loss() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    aligned = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    loss = SupConLoss(0.1)
    assert loss(aligned, aligned, labels) < loss(mixed, mixed, labels)


@pytest.mark.parametrize("temperature", [0.0, -0.1])
def test_non_positive_temperature_is_refused(temperature: float) -> None:
    with pytest.raises(ConfigError, match="temperature"):
        SupConLoss(temperature)
