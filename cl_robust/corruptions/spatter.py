"""CIFAR-10-C's spatter (a held-out validation corruption): water drops (severities 1-3) or mud (4-5).

A layer of N(mean, sd) noise is blurred and thresholded into blobs. Mud (batched here): the
blobs, blurred again and cut at 0.8, replace the image by mud brown (63, 42, 20). Water: the
blobs' edges (Canny), a distance transform to them, histogram equalisation and an emboss
kernel shape pale-turquoise (175, 238, 238) drops added to the image. Those four image
operations are OpenCV's (``opencv-python-headless``, an optional dependency: ``pip install
opencv-python-headless``), called image by image as the published generator calls them,
because their exact behaviour (Canny's hysteresis, the 5 x 5 distance mask, the histogram
mapping) is what the published drops are made of.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cl_robust.errors import ConfigError

from .filters import gaussian_filter
from .sampling import Draws
from .severities import SPATTER

WATER = (175 / 255, 238 / 255, 238 / 255)
MUD = (63 / 255, 42 / 255, 20 / 255)
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def _opencv():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError as error:
        raise ConfigError("corruption 'spatter' at severities 1-3 needs OpenCV: pip install opencv-python-headless "
                          "(the other corruptions do not)") from error
    return cv2


def water_drops(liquid: np.ndarray) -> np.ndarray:
    """The drop strength map of one 8-bit liquid layer ``[H, W]`` (float32, not yet normalised)."""
    cv2 = _opencv()
    distance = 255 - cv2.Canny(liquid, 50, 150)
    distance = cv2.distanceTransform(distance, cv2.DIST_L2, 5)
    _, distance = cv2.threshold(distance, 20, 20, cv2.THRESH_TRUNC)
    distance = cv2.blur(distance, (3, 3)).astype(np.uint8)
    distance = cv2.equalizeHist(distance)
    distance = cv2.filter2D(distance, cv2.CV_8U, EMBOSS)
    distance = cv2.blur(distance, (3, 3)).astype(np.float32)
    return liquid * distance


def spatter_with(x: Tensor, severity: int, liquid: Tensor) -> Tensor:
    """Spatter from its noise layer ``liquid`` ``[N, 1, H, W]`` (already N(mean, sd))."""
    _, _, blur, threshold, strength, mud = SPATTER[severity - 1]
    image = x.float()
    layer = gaussian_filter(liquid.double().to(x.device), blur)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    if not mud:
        # numpy's float -> uint8 cast of values above 1 wraps around; the blurred layer rarely gets there
        liquid8 = torch.floor(layer * 255).long().remainder(256).to(torch.uint8)[:, 0].cpu().numpy()
        drops = torch.from_numpy(np.stack([water_drops(one) for one in liquid8]))[:, None].to(x.device)
        peak = drops.amax(dim=(2, 3), keepdim=True)
        drops = torch.where(peak > 0, drops / torch.where(peak > 0, peak, 1), drops) * strength
        colour = torch.tensor(WATER, dtype=torch.float32, device=x.device)[None, :, None, None]
        return (image + drops * colour).clamp(0, 1) * 255
    blobs = gaussian_filter((layer > threshold).float(), strength)
    blobs = torch.where(blobs < 0.8, torch.zeros_like(blobs), blobs)
    colour = torch.tensor(MUD, dtype=torch.float32, device=x.device)[None, :, None, None] * blobs
    return (image * (1 - blobs) + colour).clamp(0, 1) * 255


def spatter(x: Tensor, severity: int, draws: Draws) -> Tensor:
    mean, sd = SPATTER[severity - 1][:2]
    n, _, h, w = x.shape
    return spatter_with(x, severity, draws.normal((n, 1, h, w), mean, sd, torch.float64))
