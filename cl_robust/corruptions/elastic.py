"""CIFAR-10-C's elastic transform: a random affine warp, then a smooth random displacement field.

After Simard, Steinkraus & Platt (2003) as adapted in CIFAR-10-C's generator (from
gist.github.com/erniejunior/601cdf56d2b424757de5):

1. the three points (26, 26), (26, 6), (6, 6) move by U(-jitter, jitter) each; OpenCV's
   ``warpAffine`` (bilinear, border ``BORDER_REFLECT_101``) maps the image accordingly. OpenCV
   computes source positions in fixed point, to 1/32 pixel, rounded as its ``warpAffine`` rounds
   them; that is done here too.
2. each pixel is then displaced by (dy, dx), each a field of U(-1, 1) noise smoothed by a
   Gaussian of ``sigma`` (border ``reflect``, cut at 3 sigma; as two matrix products, since the
   kernel is up to 39 taps wide) and scaled by ``alpha``, and
   read with SciPy's ``map_coordinates`` (order 1, border ``reflect``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .filters import gaussian_matrix, sample_bilinear
from .sampling import Draws
from .severities import ELASTIC, ELASTIC_SIZE

#: OpenCV's warpAffine: 10 fractional bits for the matrix products, 5 (1/32 pixel) for interpolation.
_AB_BITS, _INTER_BITS = 10, 5


def _anchor_points() -> Tensor:
    centre, half = ELASTIC_SIZE // 2, ELASTIC_SIZE // 3
    return torch.tensor([[centre + half, centre + half], [centre + half, centre - half],
                         [centre - half, centre - half]], dtype=torch.float32)


def affine_matrices(jitter: Tensor) -> Tensor:
    """``[N, 2, 3]`` affine maps (float64, OpenCV's x = column, y = row) taking the anchors to anchors + jitter."""
    source = _anchor_points().to(jitter.device)
    target = (source[None] + jitter.to(torch.float32)).double()
    homogeneous = torch.cat([source.double(), torch.ones(3, 1, dtype=torch.float64, device=jitter.device)], 1)
    return torch.linalg.solve(homogeneous[None].expand(len(jitter), 3, 3), target).transpose(1, 2)


def _inverse(matrices: Tensor) -> Tensor:
    """OpenCV's ``invertAffineTransform``."""
    m = matrices
    determinant = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    scale = torch.where(determinant != 0, 1.0 / determinant, torch.zeros_like(determinant))
    a11, a22 = m[:, 1, 1] * scale, m[:, 0, 0] * scale
    a12, a21 = -m[:, 0, 1] * scale, -m[:, 1, 0] * scale
    b1 = -a11 * m[:, 0, 2] - a12 * m[:, 1, 2]
    b2 = -a21 * m[:, 0, 2] - a22 * m[:, 1, 2]
    return torch.stack([torch.stack([a11, a12, b1], 1), torch.stack([a21, a22, b2], 1)], 1)


def warp_affine(x: Tensor, matrices: Tensor) -> Tensor:
    """OpenCV's ``warpAffine(x, M, (W, H), borderMode=BORDER_REFLECT_101)``, bilinear, for ``[N, 2, 3]`` maps."""
    n, _, h, w = x.shape
    inverse = _inverse(matrices.double().to(x.device))
    scale, round_delta = 1 << _AB_BITS, (1 << _AB_BITS) // (1 << _INTER_BITS) // 2
    columns = torch.arange(w, dtype=torch.float64, device=x.device)
    rows = torch.arange(h, dtype=torch.float64, device=x.device)

    def fixed(axis: int) -> Tensor:
        along_x = torch.round(inverse[:, axis, 0, None] * columns[None] * scale).long()  # [N, W]
        per_row = torch.round((inverse[:, axis, 1, None] * rows[None] + inverse[:, axis, 2, None]) * scale).long()
        return (per_row[:, :, None] + round_delta + along_x[:, None, :]) >> (_AB_BITS - _INTER_BITS)  # [N, H, W]

    source_x, source_y = fixed(0), fixed(1)
    tab = 1 << _INTER_BITS
    return sample_bilinear(x, source_y >> _INTER_BITS, source_x >> _INTER_BITS,
                           (source_y & (tab - 1)).float() / tab, (source_x & (tab - 1)).float() / tab, "mirror",
                           opencv_order=True)


def elastic_transform_with(x: Tensor, severity: int, jitter: Tensor, noise_x: Tensor, noise_y: Tensor) -> Tensor:
    """The transform from its random numbers: ``jitter`` [N, 3, 2] (OpenCV x, y of each anchor), the
    U(-1, 1) fields ``noise_x`` (column displacement) and ``noise_y`` (row), [N, H, W]."""
    alpha, sigma, _ = ELASTIC[severity - 1]
    image = warp_affine(x.float(), affine_matrices(jitter))
    n, _, h, w = x.shape
    rows_filter = gaussian_matrix(h, sigma, "reflect", truncate=3.0).to(x.device)
    columns_filter = gaussian_matrix(w, sigma, "reflect", truncate=3.0).to(x.device)
    smooth = [((rows_filter @ noise.double().to(x.device) @ columns_filter.T) * alpha).float()
              for noise in (noise_x, noise_y)]
    rows = torch.arange(h, device=x.device, dtype=torch.float64)[None, :, None] + smooth[1].double()
    columns = torch.arange(w, device=x.device, dtype=torch.float64)[None, None, :] + smooth[0].double()
    row_floor, column_floor = torch.floor(rows), torch.floor(columns)
    out = sample_bilinear(image.double(), row_floor.long(), column_floor.long(), rows - row_floor,
                          columns - column_floor, "reflect")
    return out.clamp(0, 1) * 255


def elastic_transform(x: Tensor, severity: int, draws: Draws) -> Tensor:
    _, _, jitter = ELASTIC[severity - 1]
    n, _, h, w = x.shape
    offsets = draws.uniform((n, 3, 2), -jitter, jitter, torch.float64)
    noise_x = draws.uniform((n, h, w), -1.0, 1.0, torch.float64)
    noise_y = draws.uniform((n, h, w), -1.0, 1.0, torch.float64)
    return elastic_transform_with(x, severity, offsets, noise_x, noise_y)
