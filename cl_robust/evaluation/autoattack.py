"""The original AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks"), standard version, from its authors' code.

``pyautoattack.AutoAttack(version="standard")`` configures the ensemble: APGD-CE (100
iterations), APGD-T (100 iterations, the 9 classes of highest logit as targets), FAB-T (100
iterations, 9 targets) and Square (5000 queries), one restart each, every attack run only on
the images that the ones before it did not break. :func:`run_autoattack` runs those four
attack objects as ``AutoAttack.run_standard_evaluation`` does, chunk after chunk of
``batch_size`` images still robust, each ``perturb`` re-seeded by the attack itself, and so
gives its robust accuracy image for image (tested). Around that loop it adds:

- a progress file (:mod:`~cl_robust.evaluation.autoattack_state`): a run stopped part-way
  resumes at the chunk where it stopped and ends as an uninterrupted run would;
- several ranks: every rank holds all the images and takes every ``world``-th chunk of each
  attack, so the chunks, and the result, are those of one process;
- AutoAttack's own checks (its ``checks`` module: randomised or dynamic model, probability
  outputs, too few classes for 9 targets, zero gradients at APGD-T's first step (it checks its
  DLR losses only), Square stronger than the white-box attacks) as a record instead of log lines;
- which attack of the ensemble broke each image.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyautoattack
import torch
from pyautoattack import AutoAttack
from pyautoattack import checks as autoattack_checks
from torch import Tensor, nn

from cl_robust.attacks.state import attack_mode, gradients_on, seeded
from cl_robust.commands.distributed import rank_and_world, sum_over_ranks

from .autoattack_state import MISCLASSIFIED, ROBUST, AutoAttackProgress, fingerprint
from .progress import StageProgress
from .suite import AUTOATTACK_ITERATIONS, SQUARE_QUERIES

#: The standard version's attacks, in the order they run.
ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square")
NORMS = {"linf": "Linf", "l2": "L2"}
#: AutoAttack's own tolerance for "Square lowered the robust accuracy" (``checks.check_square_sr``).
SQUARE_ALPHA = 0.002
_ZERO_GRADIENTS = re.compile(r"there are (\d+) points with zero gradient")


class FloatLogits(nn.Module):
    """The model's logits as float32 (the attacks compute their losses on them)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images).float()


def standard_autoattack(model: nn.Module, norm: str, eps: float, seed: int, device: torch.device | str,
                        iterations: int = AUTOATTACK_ITERATIONS, queries: int = SQUARE_QUERIES) -> AutoAttack:
    """``pyautoattack.AutoAttack(version="standard")``; ``iterations`` / ``queries`` other than 100 / 5000
    shorten APGD-CE, APGD-T and FAB-T / Square for quick checks (then it is no longer the standard version).

    APGD's step-size checkpoints are re-derived from ``iterations`` as APGD derives them (Croce & Hein
    2020, Sec. 3.2: the first after 22% of the iterations, spaced by at least 6%, shrinking by 3%).
    """
    attack = AutoAttack(model, norm=NORMS[norm], eps=eps, version="standard", device=device, seed=seed)
    attack.verbose = False
    if iterations != AUTOATTACK_ITERATIONS:
        for apgd in (attack.apgd, attack.apgd_targeted):
            apgd.n_iter = apgd.n_iter_orig = iterations
            apgd.n_iter_2 = max(int(0.22 * iterations), 1)
            apgd.n_iter_min = max(int(0.06 * iterations), 1)
            apgd.size_decr = max(int(0.03 * iterations), 1)
        attack.fab.n_iter = iterations
    attack.square.n_queries = queries
    return attack


def _perturb(attack: AutoAttack, name: str, images: Tensor, labels: Tensor) -> Tensor:
    """One attack of the ensemble on one chunk, set up as ``run_standard_evaluation`` sets it up."""
    if name == "apgd-ce":
        attack.apgd.loss = "ce"
        attack.apgd.seed = attack.get_seed()
        return attack.apgd.perturb(images, labels)
    if name == "apgd-t":
        attack.apgd_targeted.seed = attack.get_seed()
        return attack.apgd_targeted.perturb(images, labels)
    if name == "fab-t":
        attack.fab.targeted = True
        attack.fab.n_restarts = 1
        attack.fab.seed = attack.get_seed()
        return attack.fab.perturb(images, labels)
    attack.square.seed = attack.get_seed()
    return attack.square.perturb(images, labels)


class _Messages:
    """A stand-in logger that keeps what AutoAttack's checks warn about."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def warning(self, message: str) -> None:
        self.messages.append(str(message))

    def info(self, message: str) -> None:
        """Progress lines are dropped."""

    debug = info


def _check(call: Callable[[_Messages], object]) -> tuple[dict[str, Any], object]:
    log = _Messages()
    value = call(log)
    return {"passed": not log.messages, "message": " ".join(log.messages) or None}, value


def model_checks(attack: AutoAttack, images: Tensor, labels: Tensor, batch_size: int) -> dict[str, dict[str, Any]]:
    """AutoAttack's checks of the model on the first ``batch_size`` images, as ``run_standard_evaluation`` runs them."""
    x, y = images[:batch_size], labels[:batch_size]
    found: dict[str, dict[str, Any]] = {}
    found["randomized"], _ = _check(lambda log: autoattack_checks.check_randomized(attack.get_logits, x, y,
                                                                                    bs=batch_size, logger=log))
    found["probability_outputs"], classes = _check(lambda log: autoattack_checks.check_range_output(
        attack.get_logits, x, logger=log))
    found["dynamic"], _ = _check(lambda log: autoattack_checks.check_dynamic(attack.model, x, False, logger=log))
    found["target_classes"], _ = _check(lambda log: autoattack_checks.check_n_classes(
        classes, attack.attacks_to_run, attack.apgd_targeted.n_target_classes, attack.fab.n_target_classes,
        logger=log))
    return found


@dataclass
class AutoAttackOutcome:
    """What AutoAttack did to each image, and its checks."""

    #: Per image: None when robust, "clean" when misclassified without attack, else the attack that broke it.
    broken_by: list[str | None]
    checks: dict[str, dict[str, Any]]
    #: What a previous, interrupted run had done (None when the run started afresh).
    resumed: dict[str, Any] | None
    seconds: float

    @property
    def correct(self) -> Tensor:
        return torch.tensor([cause is None for cause in self.broken_by], dtype=torch.bool)

    def correct_after(self) -> dict[str, int]:
        """Images still correct after the clean pass and after each attack of the ensemble."""
        counts, broken = {}, 0
        for stage in ("clean", *ATTACKS):
            broken += sum(cause == stage for cause in self.broken_by)
            counts[stage] = len(self.broken_by) - broken
        return counts


class _Run:
    """One AutoAttack run over every image, shared out in chunks between the ranks."""

    def __init__(self, attack: AutoAttack, images: Tensor, labels: Tensor, batch_size: int,
                 progress: AutoAttackProgress, state_path: Path | None, show_progress: bool = False) -> None:
        self.attack, self.images, self.labels, self.batch_size = attack, images, labels, batch_size
        self.progress, self.state_path = progress, state_path
        self.rank, self.world = rank_and_world()
        self.show_progress = show_progress and self.rank == 0

    def _save(self) -> None:
        if self.state_path is not None and self.rank == 0:
            self.progress.save(self.state_path)

    def _rounds(self, stage: str, chunks: list[Tensor], code: int, work: Callable[[Tensor], Tensor],
                count_zero_gradients: bool = False) -> None:
        """``work(indices) -> broken mask`` on chunk ``k * world + rank`` of every round; results merged after each."""
        bar = StageProgress(stage, sum(len(chunk) for chunk in chunks[self.progress.chunks_done:]), len(self.labels),
                            self.show_progress)
        for first in range(self.progress.chunks_done, len(chunks), self.world):
            newly = torch.zeros_like(self.progress.broken_by)
            log = _Messages()
            self.attack.apgd.logger = self.attack.apgd_targeted.logger = log
            mine = first + self.rank
            if mine < len(chunks):
                indices = chunks[mine]
                newly[indices[work(indices)]] = code
            # APGD-T checks its first gradient once per target class; the first target sees the whole chunk.
            found = [int(match.group(1)) for match in map(_ZERO_GRADIENTS.search, log.messages) if match][:1]
            newly, zero_gradients = sum_over_ranks(newly), sum_over_ranks(torch.tensor(sum(found)))
            self.progress.broken_by = torch.where(newly > 0, newly, self.progress.broken_by)
            if count_zero_gradients:
                self.progress.zero_gradient_images += int(zero_gradients)
            self.progress.chunks_done = min(first + self.world, len(chunks))
            self._save()
            bar.chunk_done(sum(len(chunk) for chunk in chunks[first:first + self.world]),
                           int((self.progress.broken_by == ROBUST).sum()))
        bar.close()

    def _misclassified(self, indices: Tensor) -> Tensor:
        return self.attack.get_logits(self.images[indices]).argmax(dim=1) != self.labels[indices]

    def _broken(self, name: str) -> Callable[[Tensor], Tensor]:
        def work(indices: Tensor) -> Tensor:
            adversarial = _perturb(self.attack, name, self.images[indices].clone(), self.labels[indices].clone())
            return self.attack.get_logits(adversarial).argmax(dim=1) != self.labels[indices]
        return work

    def run(self) -> None:
        everything = torch.arange(len(self.labels), device=self.labels.device)
        if not self.progress.clean_done:
            self._rounds("clean", list(everything.split(self.batch_size)), MISCLASSIFIED, self._misclassified)
            self.progress.clean_done, self.progress.chunks_done = True, 0
            self._save()
        for number, name in enumerate(ATTACKS):
            if name in self.progress.attacks_done:
                continue
            code = 2 + number
            # The images robust when this attack started: not broken yet, or broken by it in a finished chunk.
            start = everything[(self.progress.broken_by == ROBUST) | (self.progress.broken_by == code)]
            self._rounds(name, list(start.split(self.batch_size)), code, self._broken(name), name == "apgd-t")
            self.progress.attacks_done.append(name)
            self.progress.chunks_done = 0
            self._save()


def run_autoattack(model: nn.Module, images: Tensor, labels: Tensor, *, norm: str, eps: float, seed: int,
                   batch_size: int, iterations: int = AUTOATTACK_ITERATIONS, queries: int = SQUARE_QUERIES,
                   state_path: Path | None = None, show_progress: bool = False) -> AutoAttackOutcome:
    """AutoAttack (standard version) on every image, the model in eval mode; the same call on every rank.

    ``state_path``: the progress file; an existing one for the same model, images and settings is
    resumed. ``show_progress``: a bar per attack of the ensemble on stderr (rank 0). The caller's random
    state is left as it was.
    """
    device = images.device
    logits = FloatLogits(model)
    settings = {"norm": norm, "eps": eps, "seed": seed, "batch_size": batch_size, "iterations": iterations,
                "queries": queries, "version": "standard", "pyautoattack": pyautoattack.__version__}
    key = fingerprint(model, images, labels, settings)
    path = None if state_path is None else state_path.with_name(f"{state_path.stem}-{key[:16]}.json")
    progress = (AutoAttackProgress.load(path, key, device) if path is not None else None)
    resumed = None if progress is None or not progress.started else {
        "attacks_done": list(progress.attacks_done), "chunks_done": progress.chunks_done}
    progress = progress or AutoAttackProgress.fresh(key, len(labels), device)
    start = time.perf_counter()
    with gradients_on(), attack_mode(model, "eval"), seeded(seed, "autoattack", device=device), torch.no_grad():
        attack = standard_autoattack(logits, norm, eps, seed, device, iterations, queries)
        checks = model_checks(attack, images, labels, batch_size) if len(labels) else {}
        _Run(attack, images, labels, batch_size, progress, path, show_progress).run()
    causes = [None, "clean", *ATTACKS]
    outcome = AutoAttackOutcome([causes[code] for code in progress.broken_by.tolist()], checks, resumed,
                                time.perf_counter() - start)
    after = outcome.correct_after()
    white_box = after["fab-t"]
    checks["zero_gradients"] = {
        "passed": progress.zero_gradient_images == 0, "images": progress.zero_gradient_images,
        "message": None if progress.zero_gradient_images == 0 else
        f"{progress.zero_gradient_images} images had an exactly zero gradient of APGD-T's loss at its first step"}
    gain = (white_box - after["square"]) / max(len(labels), 1)
    checks["square"] = {"passed": gain <= SQUARE_ALPHA, "images": white_box - after["square"],
                        "message": None if gain <= SQUARE_ALPHA else
                        f"Square (black-box) broke {white_box - after['square']} images that APGD-CE, APGD-T and "
                        "FAB-T did not: the white-box attacks may be misled (masked gradients)"}
    return outcome
