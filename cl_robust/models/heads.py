"""Projection heads for contrastive pretraining, built from lightly's blocks."""

from __future__ import annotations

from lightly.models.modules import SimCLRProjectionHead
from torch import nn

from cl_robust.errors import check_positive


def build_projection_head(input_dim: int, hidden_dim: int = 2048, output_dim: int = 128,
                          num_layers: int = 2, batch_norm: bool = False) -> nn.Module:
    """SimCLR projection head g(h) = W2 relu(W1 h) (Chen et al. 2020, Sec. 2.1).

    The reference study uses 2048 -> 2048 -> ReLU -> 128 without batch norm; lightly's
    default adds batch norm (SimCLR v2), so it is an option here. The output is not
    normalised: the contrastive losses L2-normalise their inputs.
    """
    for name, value in (("projection hidden_dim", hidden_dim), ("projection output_dim", output_dim),
                        ("projection num_layers", num_layers)):
        check_positive(name, value)
    return SimCLRProjectionHead(input_dim, hidden_dim, output_dim, num_layers=num_layers, batch_norm=batch_norm)
