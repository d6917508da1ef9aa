"""Make the frost textures shipped in cl_robust/corruptions/frost/ from the published photographs.

CIFAR-10-C's generator reads frost1.png ... frost5.jpg with OpenCV, scales them by 0.2
(``cv2.resize``, bilinear) and crops 32 x 32 pieces. This script does that scaling once and
stores the results losslessly as RGB PNGs, so the library needs neither OpenCV nor the full
photographs. Needs ``opencv-python-headless``.

    git clone https://github.com/hendrycks/robustness   # Apache-2.0
    python scripts/make_frost_textures.py robustness/ImageNet-C/create_c cl_robust/corruptions/frost
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SOURCES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
SCALE = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="folder holding frost1.png ... frost5.jpg")
    parser.add_argument("target", type=Path, help="folder to write frost1.png ... frost5.png into")
    args = parser.parse_args()
    args.target.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(SOURCES, start=1):
        bgr = cv2.imread(str(args.source / name))
        if bgr is None:
            raise SystemExit(f"cannot read {args.source / name}")
        scaled = cv2.resize(bgr, (0, 0), fx=SCALE, fy=SCALE)
        rgb = np.ascontiguousarray(scaled[..., ::-1])
        Image.fromarray(rgb).save(args.target / f"frost{number}.png", optimize=True)
        print(f"{name}: {bgr.shape[1]} x {bgr.shape[0]} -> frost{number}.png {rgb.shape[1]} x {rgb.shape[0]}")


if __name__ == "__main__":
    main()
