"""Per test image: its label, whether each attack left it correctly classified, and what broke it.

Images are numbered by their position in the evaluated test split, as the data module serves
it (``order_seed`` and ``test_per_class`` are in ``robustness.json``):
``CIFARDataModule(..., order_seed=..., test_per_class=...).test_set.images[index]`` is the image.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from .worst_case import WorstCase

FILE_NAME = "per_sample.csv"


@dataclass
class PerSampleOutcomes:
    """Every image of the split once, in index order."""

    indices: Tensor
    labels: Tensor
    #: Attack name -> bool [N]: still classified correctly (``clean``: without attack).
    correct: dict[str, Tensor]
    #: AutoAttack name -> per image None, ``"clean"`` or the attack of the ensemble that broke it.
    broken_by: dict[str, list[str | None]]

    def breakers(self, index: int) -> list[str]:
        """What broke image ``index``: ``clean`` when misclassified without attack, else the attacks that did."""
        if "clean" in self.correct and not bool(self.correct["clean"][index]):
            return ["clean"]
        names = []
        for name, correct in self.correct.items():
            if not bool(correct[index]):
                stage = self.broken_by[name][index] if name in self.broken_by else None
                names.append(f"{name} ({stage})" if stage else name)
        return names

    def write_csv(self, path: Path, worst: list[WorstCase]) -> Path:
        """``index, label``, 1/0 per attack, the AutoAttack attack that broke it, 1/0 per worst case, ``broken by``."""
        header = ["index", "label", *self.correct, *[f"{name} broken by" for name in self.broken_by],
                  *[f"worst case {case.label}" for case in worst], "broken by"]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row, (index, label) in enumerate(zip(self.indices.tolist(), self.labels.tolist(), strict=True)):
                writer.writerow([index, label, *[int(correct[row]) for correct in self.correct.values()],
                                 *[causes[row] or "" for causes in self.broken_by.values()],
                                 *[int(case.correct[row]) for case in worst], ";".join(self.breakers(row))])
        return path
