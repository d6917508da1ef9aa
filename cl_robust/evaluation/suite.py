"""The attacks of a robustness evaluation, named and checked before any work starts.

An attack is written ``PRESET`` or ``PRESET:key=value:key=value`` (keys ``eps``, ``step``,
``steps``, ``norm``, ``random_start``), for example ``pgd20:eps=4/255`` or
``autoattack:norm=l2:eps=0.5``. Presets follow the field's reporting practice:

- ``pgd20``: L-inf PGD-20 with random start, eps 8/255, step 2/255 (Madry et al. 2018; the
  RobustBench / RobustSSL setting);
- ``pgd40-ref``: the study's reference setting, L-inf PGD-40, eps 4/255, step 0.01, no random start;
- ``pgd20-sweep``: ``pgd20`` at every eps of the sweep list, step eps / 4;
- ``pgd20-l2``: L2 PGD-20 with random start, eps 0.5, step eps / 4;
- ``fgsm``: FGSM (Goodfellow et al. 2015) at eps 8/255;
- ``autoattack``: AutoAttack, standard version (Croce & Hein 2020), L-inf eps 8/255;
- ``tm1`` / ``tm1-pgd20``: threat model I, PGD on the contrastive loss through encoder +
  projection head, at the reference settings / at the ``pgd20`` settings;
- ``clean``: no attack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from cl_robust.attacks import AttackConfig, parse_eps
from cl_robust.errors import ConfigError

KINDS = ("clean", "fgsm", "pgd", "autoattack", "tm1")
DEFAULT_SWEEP = ("2/255", "4/255", "8/255", "16/255")


@dataclass(frozen=True)
class AttackSpec:
    """One attack of the suite: what it perturbs (``kind``) and its threat-model settings.

    ``kind``: ``clean``, ``fgsm``, ``pgd`` (cross-entropy end to end: threat model II),
    ``autoattack`` (cross-entropy threat model, ensemble of Croce & Hein 2020) or ``tm1``
    (PGD on the contrastive loss through encoder + projection head).
    """

    name: str
    kind: str
    norm: str = "linf"
    eps: float = 0.0
    steps: int = 0
    step_size: float = 0.0
    random_start: bool = False

    @property
    def threat_model(self) -> str:
        """``clean``, ``TM-I`` (contrastive loss) or ``TM-II`` (cross-entropy end to end)."""
        return {"clean": "clean", "tm1": "TM-I"}.get(self.kind, "TM-II")

    def attack_config(self) -> AttackConfig:
        """The :class:`AttackConfig` of a PGD / FGSM / TM-I attack (eval-mode BatchNorm)."""
        method = "fgsm" if self.kind == "fgsm" else "pgd"
        return AttackConfig(method=method, norm=self.norm, eps=self.eps, step_size=self.step_size or self.eps or 1.0,
                            steps=max(1, self.steps), random_start=self.random_start, bn_mode="eval")

    def settings(self) -> dict[str, object]:
        """Every setting as plain JSON values."""
        return {**asdict(self), "threat_model": self.threat_model}


PRESETS: dict[str, AttackSpec] = {
    "clean": AttackSpec("clean", "clean"),
    "fgsm": AttackSpec("fgsm", "fgsm", eps=8 / 255, steps=1, step_size=8 / 255),
    "pgd20": AttackSpec("pgd20", "pgd", eps=8 / 255, steps=20, step_size=2 / 255, random_start=True),
    "pgd40-ref": AttackSpec("pgd40-ref", "pgd", eps=4 / 255, steps=40, step_size=0.01),
    "pgd20-l2": AttackSpec("pgd20-l2", "pgd", norm="l2", eps=0.5, steps=20, step_size=0.125, random_start=True),
    "autoattack": AttackSpec("autoattack", "autoattack", eps=8 / 255),
    "tm1": AttackSpec("tm1", "tm1", eps=4 / 255, steps=40, step_size=0.01),
    "tm1-pgd20": AttackSpec("tm1-pgd20", "tm1", eps=8 / 255, steps=20, step_size=2 / 255, random_start=True),
}
SWEEP = "pgd20-sweep"
DEFAULT_ATTACKS = ("clean", "fgsm", "pgd20", "pgd40-ref", SWEEP, "pgd20-l2", "autoattack", "tm1", "tm1-pgd20")


def _parse_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"attack option {key} must be true or false; got {text!r}")


def _override(spec: AttackSpec, options: Sequence[str], text: str) -> AttackSpec:
    """``spec`` with ``key=value`` options applied; the name records them."""
    changes: dict[str, object] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise ConfigError(f"attack {text!r}: options are key=value (eps, step, steps, norm, random_start); "
                              f"got {option!r}")
        if key == "eps":
            changes["eps"] = parse_eps(value, "attack eps")
        elif key == "step":
            changes["step_size"] = parse_eps(value, "attack step")
        elif key == "steps":
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"attack {text!r}: steps must be an integer >= 1; got {value!r}")
            changes["steps"] = int(value)
        elif key == "norm":
            changes["norm"] = value.lower()
        elif key == "random_start":
            changes["random_start"] = _parse_bool(key, value)
        else:
            raise ConfigError(f"attack {text!r}: unknown option {key!r}; options: eps, step, steps, norm, random_start")
    if spec.kind == "clean" and changes:
        raise ConfigError(f"attack {text!r}: 'clean' takes no options")
    return replace(spec, name=text, **changes)  # type: ignore[arg-type]


def check_spec(spec: AttackSpec) -> AttackSpec:
    """Raise ConfigError for impossible settings (e.g. eps 8 where 8/255 was meant)."""
    if spec.kind != "clean":
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


def parse_attacks(texts: Iterable[str], sweep: Iterable[str | float] = DEFAULT_SWEEP) -> list[AttackSpec]:
    """Attack specs from their names (comma-separated lists accepted); duplicate settings run once."""
    specs: list[AttackSpec] = []
    for text in (part.strip() for item in texts for part in item.split(",")):
        if not text:
            continue
        preset, *options = text.split(":")
        if preset == SWEEP and not options:
            specs += [check_spec(spec) for spec in sweep_specs(sweep)]
            continue
        if preset not in PRESETS:
            raise ConfigError(f"unknown attack {preset!r}; known: {', '.join([*PRESETS, SWEEP])}")
        specs.append(check_spec(_override(PRESETS[preset], options, text)))
    if not specs:
        raise ConfigError(f"attacks: give at least one attack ({', '.join([*PRESETS, SWEEP])})")
    unique: dict[tuple[object, ...], AttackSpec] = {}
    for spec in specs:
        key = (spec.kind, spec.norm, spec.eps, spec.steps, spec.step_size, spec.random_start)
        unique.setdefault(key, spec)
    return list(unique.values())
