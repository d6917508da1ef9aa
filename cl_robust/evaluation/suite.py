"""The attacks of a robustness evaluation, named and checked before any work starts.

An attack is written ``PRESET`` or ``PRESET:key=value:key=value``, for example
``pgd20:eps=4/255`` or ``autoattack:norm=l2:eps=0.5``. Keys: ``eps``, ``norm`` for every
attack; ``step``, ``steps``, ``random_start`` for PGD and TM-I; ``random_start`` for FGSM (one step of
eps, or 1.25 eps after a random start: it has no ``step`` or ``steps``); ``steps`` (iterations of
APGD-CE, APGD-T and FAB-T) and ``queries`` (Square) for ``autoattack``; ``queries`` for
``square``. Presets follow the field's reporting practice:

- ``pgd20``: L-inf PGD-20 with random start, eps 8/255, step 2/255 (Madry et al. 2018; the
  RobustBench / RobustSSL setting); ``pgd100``: the same with 100 steps;
- ``pgd40-ref``: the study's reference setting, L-inf PGD-40, eps 4/255, step 0.01, no random start;
- ``pgd20-sweep``: ``pgd20`` at every eps of the sweep list, step eps / 4;
- ``pgd20-l2``: L2 PGD-20 with random start, eps 0.5, step eps / 4;
- ``pgd20-unbounded``: PGD-20 at L-inf eps 1, where any image of [0, 1] is allowed: accuracy
  must reach about 0, or gradients are masked (Athalye, Carlini & Wagner 2018);
- ``fgsm``: FGSM (Goodfellow et al. 2015) at eps 8/255;
- ``autoattack`` / ``autoattack-l2``: the original AutoAttack (Croce & Hein 2020, "Reliable
  evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks"),
  standard version, from its authors' code (``pyautoattack``), L-inf eps 8/255 / L2 eps 0.5;
- ``autoattack-fast``: torchattacks' AutoAttack, a faster approximation with 10 iterations
  instead of 100: an upper bound on the original's robust accuracy, never the field's number;
- ``square``: Square Attack alone (Andriushchenko et al. 2020), black-box, 5000 queries;
- ``tm1`` / ``tm1-pgd20``: threat model I, PGD on the contrastive loss through encoder +
  projection head, at the reference settings / at the ``pgd20`` settings;
- ``clean``: no attack;
- ``corruptions``: not an attack but the 15 common corruptions of CIFAR-10-C at their 5
  severities (Hendrycks & Dietterich 2019; :mod:`cl_robust.corruptions`), 75 entries of kind
  ``corruption``; ``corruptions:names=fog,contrast:severities=3,5`` picks some (the 4 extra
  corruptions may be named too). See :mod:`~cl_robust.evaluation.corruption_suite`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from cl_robust.attacks import AttackConfig, parse_eps
from cl_robust.errors import ConfigError

from .corruption_suite import CORRUPTIONS_ENTRY, CorruptionChoice, parse_corruption_options

KINDS = ("clean", "fgsm", "pgd", "autoattack", "autoattack-fast", "square", "tm1", "corruption")
#: The options each kind of attack takes (see the module docstring).
OPTIONS: dict[str, tuple[str, ...]] = {
    "clean": (), "fgsm": ("eps", "norm", "random_start"),
    "pgd": ("eps", "step", "steps", "norm", "random_start"), "tm1": ("eps", "step", "steps", "norm", "random_start"),
    "autoattack": ("eps", "norm", "steps", "queries"), "autoattack-fast": ("eps", "norm"), "square": ("eps", "norm", "queries"),
    "corruption": ("names", "severities"),
}
#: The original AutoAttack's standard version: iterations of APGD-CE, APGD-T and FAB-T, and Square's queries.
AUTOATTACK_ITERATIONS, SQUARE_QUERIES = 100, 5000
DEFAULT_SWEEP = ("2/255", "4/255", "8/255", "16/255")


@dataclass(frozen=True)
class AttackSpec:
    """One attack of the suite: what it perturbs (``kind``) and its threat-model settings.

    ``kind``: ``clean``, ``fgsm``, ``pgd`` (cross-entropy end to end: threat model II),
    ``autoattack`` (the ensemble of Croce & Hein 2020; ``steps``: its iterations), ``autoattack-fast``
    (torchattacks' version), ``square`` (black-box, ``queries`` queries) or ``tm1`` (PGD on the
    contrastive loss through encoder + projection head); or ``corruption``: no attack but one of
    CIFAR-10-C's corruptions (``corruption``) at one ``severity``.
    """

    name: str
    kind: str
    norm: str = "linf"
    eps: float = 0.0
    steps: int = 0
    step_size: float = 0.0
    random_start: bool = False
    queries: int = 0
    corruption: str = ""
    severity: int = 0

    @property
    def threat_model(self) -> str:
        """``clean``, ``TM-I`` (contrastive loss), ``TM-II`` (cross-entropy end to end) or ``corruption``."""
        return {"clean": "clean", "tm1": "TM-I", "corruption": "corruption"}.get(self.kind, "TM-II")

    def attack_config(self) -> AttackConfig:
        """The :class:`AttackConfig` of a PGD / FGSM / TM-I attack (eval-mode BatchNorm)."""
        method = "fgsm" if self.kind == "fgsm" else "pgd"
        return AttackConfig(method=method, norm=self.norm, eps=self.eps, step_size=self.step_size or self.eps or 1.0,
                            steps=max(1, self.steps), random_start=self.random_start, bn_mode="eval")

    def settings(self) -> dict[str, object]:
        """Every setting as plain JSON values."""
        return {**asdict(self), "threat_model": self.threat_model}

    @property
    def key(self) -> tuple[object, ...]:
        """Everything but the name: two specs with the same key are the same attack."""
        if self.kind == "corruption":
            return (self.kind, self.corruption, self.severity)
        return (self.kind, self.norm, self.eps, self.steps, self.step_size, self.random_start, self.queries)


def eps_text(eps: float, norm: str) -> str:
    """``8/255`` for L-inf multiples of 1/255 below 1, else the number."""
    if norm == "linf" and 0 < eps < 1:
        scaled = eps * 255
        if abs(scaled - round(scaled)) < 1e-6:
            return f"{round(scaled)}/255"
    return f"{eps:.4g}"


PRESETS: dict[str, AttackSpec] = {
    "clean": AttackSpec("clean", "clean"),
    "fgsm": AttackSpec("fgsm", "fgsm", eps=8 / 255, steps=1, step_size=8 / 255),
    "pgd20": AttackSpec("pgd20", "pgd", eps=8 / 255, steps=20, step_size=2 / 255, random_start=True),
    "pgd40-ref": AttackSpec("pgd40-ref", "pgd", eps=4 / 255, steps=40, step_size=0.01),
    "pgd20-l2": AttackSpec("pgd20-l2", "pgd", norm="l2", eps=0.5, steps=20, step_size=0.125, random_start=True),
    "pgd100": AttackSpec("pgd100", "pgd", eps=8 / 255, steps=100, step_size=2 / 255, random_start=True),
    "pgd20-unbounded": AttackSpec("pgd20-unbounded", "pgd", eps=1.0, steps=20, step_size=0.25, random_start=True),
    "autoattack": AttackSpec("autoattack", "autoattack", eps=8 / 255, steps=AUTOATTACK_ITERATIONS,
                             queries=SQUARE_QUERIES),
    "autoattack-l2": AttackSpec("autoattack-l2", "autoattack", norm="l2", eps=0.5, steps=AUTOATTACK_ITERATIONS,
                                queries=SQUARE_QUERIES),
    "autoattack-fast": AttackSpec("autoattack-fast", "autoattack-fast", eps=8 / 255, steps=10),
    "square": AttackSpec("square", "square", eps=8 / 255, queries=SQUARE_QUERIES),
    "tm1": AttackSpec("tm1", "tm1", eps=4 / 255, steps=40, step_size=0.01),
    "tm1-pgd20": AttackSpec("tm1-pgd20", "tm1", eps=8 / 255, steps=20, step_size=2 / 255, random_start=True),
}
SWEEP = "pgd20-sweep"
DEFAULT_ATTACKS = ("clean", "fgsm", "pgd20", "pgd100", "pgd40-ref", SWEEP, "pgd20-l2", "pgd20-unbounded", "autoattack",
                   "tm1", "tm1-pgd20")


def _parse_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"attack option {key} must be true or false; got {text!r}")


def _count(text: str, key: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"attack {text!r}: {key} must be an integer >= 1; got {value!r}")
    return int(value)


def _override(spec: AttackSpec, options: Sequence[str], text: str) -> AttackSpec:
    """``spec`` with ``key=value`` options applied; the name records them."""
    allowed = OPTIONS[spec.kind]
    changes: dict[str, object] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise ConfigError(f"attack {text!r}: options are key=value ({', '.join(allowed) or 'none'}); "
                              f"got {option!r}")
        if key not in allowed:
            if spec.kind == "clean":
                raise ConfigError(f"attack {text!r}: 'clean' takes no options")
            known = {name for names in OPTIONS.values() for name in names}
            what = "unknown option" if key not in known else f"{spec.name} does not take the option"
            raise ConfigError(f"attack {text!r}: {what} {key!r}; options: {', '.join(allowed)}")
        if key in ("eps", "step"):
            changes["eps" if key == "eps" else "step_size"] = parse_eps(value, f"attack {key}")
        elif key in ("steps", "queries"):
            changes[key] = _count(text, key, value)
        elif key == "norm":
            changes["norm"] = value.lower()
        else:
            changes["random_start"] = _parse_bool(key, value)
    return replace(spec, name=text, **changes)  # type: ignore[arg-type]


def check_spec(spec: AttackSpec) -> AttackSpec:
    """Raise ConfigError for impossible settings (e.g. eps 8 where 8/255 was meant)."""
    if spec.kind not in ("clean", "corruption"):
        spec.attack_config()  # checks norm, eps range, step and steps
    return spec


def sweep_specs(eps_values: Iterable[str | float]) -> list[AttackSpec]:
    """``pgd20`` (random start, step eps / 4) at each eps of ``eps_values``."""
    specs = []
    for value in eps_values:
        eps = parse_eps(value, "eps")
        label = value if isinstance(value, str) else f"{eps:g}"
        specs.append(replace(PRESETS["pgd20"], name=f"pgd20:eps={label}", eps=eps, step_size=eps / 4))
    return specs


def corruption_specs(choice: CorruptionChoice) -> list[AttackSpec]:
    """One ``corruption`` spec per corruption and severity of ``choice``, named ``<corruption>-s<severity>``."""
    return [AttackSpec(f"{name}-s{severity}", "corruption", norm="none", corruption=name, severity=severity)
            for name in choice.names for severity in choice.severities]


def _split_entries(texts: Iterable[str]) -> list[str]:
    """Entries of ``--attacks``, split at commas, except the commas of a ``corruptions`` entry's option
    values (``corruptions:names=fog,contrast:severities=3,5`` is one entry)."""
    known = {*PRESETS, SWEEP, CORRUPTIONS_ENTRY}
    entries: list[str] = []
    for item in texts:
        start = len(entries)
        for part in (piece.strip() for piece in item.split(",")):
            if not part:
                continue
            continues = (len(entries) > start and entries[-1].split(":")[0] == CORRUPTIONS_ENTRY
                         and part.split(":")[0] not in known)
            if continues:
                entries[-1] += "," + part
            else:
                entries.append(part)
    return entries


def parse_attacks(texts: Iterable[str], sweep: Iterable[str | float] = DEFAULT_SWEEP) -> list[AttackSpec]:
    """Attack specs from their names (comma-separated lists accepted); duplicate settings run once."""
    specs: list[AttackSpec] = []
    for text in _split_entries(texts):
        preset, *options = text.split(":")
        if preset == CORRUPTIONS_ENTRY:
            specs += corruption_specs(parse_corruption_options(text, options))
            continue
        if preset == SWEEP:
            if options:
                raise ConfigError(f"attack {text!r}: {SWEEP} takes no options (its eps values come from --eps, "
                                  f"its other settings are pgd20's); for other settings give pgd20 with options, "
                                  "e.g. pgd20:eps=4/255:steps=3")
            specs += [check_spec(spec) for spec in sweep_specs(sweep)]
            continue
        if preset not in PRESETS:
            raise ConfigError(f"unknown attack {preset!r}; known: {', '.join([*PRESETS, SWEEP, CORRUPTIONS_ENTRY])}")
        specs.append(check_spec(_override(PRESETS[preset], options, text)))
    if not specs:
        raise ConfigError(f"attacks: give at least one attack ({', '.join([*PRESETS, SWEEP, CORRUPTIONS_ENTRY])})")
    unique: dict[tuple[object, ...], AttackSpec] = {}
    for spec in specs:
        unique.setdefault(spec.key, spec)
    return list(unique.values())
