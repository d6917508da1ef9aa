"""Where an AutoAttack run stands, kept on disk so that the same command resumes an interrupted run.

The file records, for every image, what broke it so far (misclassified clean, or the first
attack of the ensemble that succeeded), the attacks finished and how many chunks of the
attack in progress are done. Each chunk's perturbation depends only on the chunk (every
attack of ``pyautoattack`` re-seeds itself at the start of ``perturb``), and the chunks of an
attack are the images still robust when it starts, so a resumed run ends with the result of
an uninterrupted one. The file is only reused for the same model weights, images, labels and
settings (its ``fingerprint``); anything else starts afresh under another file name.

``pyautoattack``'s own ``state_path`` cannot resume in its version 0.2.0: it writes its set of
attacks as a string, so every restore fails its own check ("The state was created with a
different set of attacks"), and a restored run returns a variable it never set. This file
takes its place and also remembers which attack broke each image.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

#: ``broken_by`` codes: 0 not broken (yet), 1 misclassified without attack, 2 + i broken by attack i.
ROBUST, MISCLASSIFIED = 0, 1
FORMAT = 1


def _bytes(tensor: Tensor) -> bytes:
    return tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()


def fingerprint(model: nn.Module, images: Tensor, labels: Tensor, settings: dict[str, Any]) -> str:
    """SHA-256 of the model's parameters and buffers, the images, the labels and the settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(_bytes(tensor))
    for tensor in (images, labels):
        digest.update(_bytes(tensor))
    return digest.hexdigest()


@dataclass
class AutoAttackProgress:
    """The state of one AutoAttack run over ``len(broken_by)`` images."""

    fingerprint: str
    broken_by: Tensor
    clean_done: bool = False
    attacks_done: list[str] = field(default_factory=list)
    chunks_done: int = 0
    #: Images with an exactly zero gradient of APGD-T's loss at its first step (AutoAttack's own check).
    zero_gradient_images: int = 0

    @classmethod
    def fresh(cls, fingerprint_: str, images: int, device: torch.device) -> AutoAttackProgress:
        return cls(fingerprint_, torch.zeros(images, dtype=torch.long, device=device))

    @property
    def started(self) -> bool:
        """Whether a previous run did any of the work."""
        return self.clean_done or self.chunks_done > 0

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed over the old one)."""
        record = {"format": FORMAT, "fingerprint": self.fingerprint, "broken_by": self.broken_by.tolist(),
                  "clean_done": self.clean_done, "attacks_done": self.attacks_done, "chunks_done": self.chunks_done,
                  "zero_gradient_images": self.zero_gradient_images}
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path, fingerprint_: str, device: torch.device) -> AutoAttackProgress | None:
        """The progress saved in ``path`` for this fingerprint; None when absent, unreadable or for other inputs."""
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("fingerprint") != fingerprint_:
            return None
        return cls(fingerprint_, torch.tensor(record["broken_by"], dtype=torch.long, device=device),
                   bool(record["clean_done"]), list(record["attacks_done"]), int(record["chunks_done"]),
                   int(record["zero_gradient_images"]))
