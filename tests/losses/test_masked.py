"""Losses over the labelled part of a batch: labels < 0 are unknown and reach no loss or gradient."""
import pytest
import torch
import torch.nn.functional as F
from lightly.loss import NTXentLoss

from cl_robust.errors import ConfigError
from cl_robust.losses import ContrastiveObjective, SupConLoss, masked_cross_entropy, masked_mean

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
LABELLED = torch.tensor([True, False, True, True, False, True, False, True])


def embeddings() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return (torch.randn(8, 5, generator=generator, requires_grad=True),
            torch.randn(8, 5, generator=generator, requires_grad=True))


def test_supcon_with_unknown_labels_is_supcon_on_the_labelled_sub_batch() -> None:
    z1, z2 = embeddings()
    masked = SupConLoss(0.5)(z1, z2, torch.where(LABELLED, LABELS, -1))
    sub_batch = SupConLoss(0.5)(z1[LABELLED], z2[LABELLED], LABELS[LABELLED])
    torch.testing.assert_close(masked, sub_batch)
    assert not torch.allclose(masked, SupConLoss(0.5)(z1, z2, LABELS)), "the unlabelled images would change it"


@pytest.mark.parametrize("replacement", ["random", "minus_one", "other_class"])
def test_unknown_images_get_no_gradient_and_their_label_value_does_not_matter(replacement: str) -> None:
    values = {"random": torch.randint(-50, -1, (8,)), "minus_one": torch.full((8,), -1),
              "other_class": torch.full((8,), -7)}[replacement]
    results = []
    for labels in (torch.where(LABELLED, LABELS, -1), torch.where(LABELLED, LABELS, values)):
        z1, z2 = embeddings()
        loss = SupConLoss(0.5)(z1, z2, labels)
        loss.backward()
        results.append((loss.detach(), z1.grad, z2.grad))
    (loss_a, g1_a, g2_a), (loss_b, g1_b, g2_b) = results
    assert torch.equal(loss_a, loss_b) and torch.equal(g1_a, g1_b) and torch.equal(g2_a, g2_b)
    assert torch.count_nonzero(g1_a[~LABELLED]) == 0 and torch.count_nonzero(g2_a[~LABELLED]) == 0
    assert torch.count_nonzero(g1_a[LABELLED]) > 0


def test_a_batch_without_labels_gives_zero_and_finite_gradients() -> None:
    z1, z2 = embeddings()
    loss = SupConLoss(0.5)(z1, z2, torch.full((8,), -1))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(z1.grad).all() and torch.count_nonzero(z1.grad) == 0
    assert masked_cross_entropy(torch.randn(4, 3), torch.full((4,), -1)).item() == 0.0


def test_masked_mean_and_cross_entropy_average_over_known_labels_only() -> None:
    values = torch.tensor([1.0, 2.0, 30.0, 4.0])
    assert masked_mean(values, torch.tensor([True, True, False, True])).item() == pytest.approx(7 / 3)
    logits, labels = torch.randn(8, 3), torch.where(LABELLED, LABELS, -1)
    torch.testing.assert_close(masked_cross_entropy(logits, labels), F.cross_entropy(logits[LABELLED], LABELS[LABELLED]))


def test_cl_plus_scl_objective_is_ntxent_plus_supcon() -> None:
    z1, z2 = embeddings()
    objective = ContrastiveObjective("cl+scl", 0.2)
    terms = objective.terms(z1, z2, LABELS)
    torch.testing.assert_close(terms["nt_xent"], NTXentLoss(temperature=0.2)(z1, z2))
    torch.testing.assert_close(terms["supcon"], SupConLoss(0.2)(z1, z2, LABELS))
    torch.testing.assert_close(objective(z1, z2, LABELS), terms["nt_xent"] + terms["supcon"])
    assert objective.uses_labels and not ContrastiveObjective("cl+sl", 0.2).uses_labels
    assert set(ContrastiveObjective("scl+sl", 0.2).terms(z1, z2, LABELS)) == {"supcon"}


def test_objective_of_a_scheme_without_a_contrastive_loss_is_refused() -> None:
    with pytest.raises(ConfigError, match="scheme 'sl' has no contrastive objective"):
        ContrastiveObjective("sl", 0.5)
