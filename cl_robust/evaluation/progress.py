"""Progress of a robustness evaluation on stderr: images done, accuracy so far and time left, per attack.

The batch-wise attacks run batch after batch, every attack on each batch, so they share one bar
(images done and time left) whose text gives each attack's accuracy so far. The original
AutoAttack runs afterwards, one bar per attack of its ensemble (images attacked, robust accuracy
so far, time left). Bars are tqdm's (a dependency of Lightning) and are drawn on rank 0 only.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from cl_robust.commands.progress import image_bar


def accuracies_text(names: Sequence[str], counts: Tensor, skipped: Sequence[bool]) -> str:
    """``clean 52.0%, pgd20 10.5%``: each attack's accuracy over the images counted so far; entries
    sharing a name (the 75 common corruptions, all named ``corruptions`` here) are pooled into one."""
    pooled: dict[str, list[int]] = {}
    for name, (correct, total), skip in zip(names, counts.tolist(), skipped, strict=True):
        if not skip and total:
            sums = pooled.setdefault(name, [0, 0])
            sums[0] += correct
            sums[1] += total
    return ", ".join(f"{name} {100 * correct / total:.1f}%" for name, (correct, total) in pooled.items())


class SuiteProgress:
    """One bar over the images the batch-wise attacks score (``total`` images; disabled: draws nothing)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = image_bar(total, "evaluate", enabled)

    def batch_done(self, images: int, names: Sequence[str], counts: Tensor, skipped: Sequence[bool]) -> None:
        """``images`` more scored by every attack; ``counts``: (correct, total) per attack so far."""
        if self.enabled:
            self.bar.set_postfix_str(accuracies_text(names, counts, skipped), refresh=False)
        self.bar.update(images)

    def close(self) -> None:
        self.bar.close()


class StageProgress:
    """One bar for one attack of AutoAttack's ensemble: images attacked, robust accuracy so far, time left."""

    def __init__(self, stage: str, images: int, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.bar = image_bar(images, f"autoattack {stage}", enabled)

    def chunk_done(self, images: int, robust: int) -> None:
        self.bar.set_postfix_str(f"robust {100 * robust / self.total:.1f}%", refresh=False)
        self.bar.update(images)

    def close(self) -> None:
        self.bar.close()
