"""The study grid: one YAML file, checked up front, expanded into a DAG of runs.

A *cell* is one (dataset, scheme, scenario, training eps). Each cell needs a pretraining run
(shared between cells), usually a fine-tuning run, and then an evaluation and an analysis of
the cell's final checkpoint. Run ids are ``<phase>-<dataset>-<scheme>-<scenario>[-eps<k>]``,
for example ``pretrain-cifar10-cl-at-eps8`` or ``evaluate-cifar100-scl-st_full_at-eps8``.
With several seeds (``seeds: [0, 1, 2]``) every run is repeated once per seed and the ids end
in ``-seed<k>``; the seed sets ``seed_everything``, the data module's shuffle and the random
starts of evaluation and analysis (the test images and their order, ``order_seed``, stay fixed,
so seeds are compared on the same batches).
The semi-supervised mixes (``cl+scl``, ``cl+sl``, ``scl+sl``) train with the grid's
``labeled_fraction`` (default 0.5, the reference's), which their run ids carry after the scheme,
e.g. ``pretrain-cifar10-cl+scl-lf0p5-st``: runs with different fractions never share a folder.

Scenario -> phases (see the study description):

======================  ==================  =============================================
scenario                pretraining         fine-tuning
======================  ==================  =============================================
``st``                  standard            standard linear probe (sl: none, the classifier)
``at``                  adversarial         standard linear probe (sl: none)
``partial_at``          adversarial         adversarial linear probe
``full_at``             adversarial         adversarial full fine-tuning
``st_partial_at``       standard            adversarial linear probe
``st_full_at``          standard            adversarial full fine-tuning
======================  ==================  =============================================

For ``sl``, ``full_at`` fine-tunes the adversarially trained classifier, as ``full_at`` does
for cl and scl (the reference's sl ``full_at`` redundancy, 0.751, sits next to its ``at``,
0.756); ``st_full_at`` fine-tunes the standard one.

``finetune_lengths: [1, 2, 5]`` measures adversarial fine-tuning at several lengths from one run:
each adversarial fine-tuning run trains for the longest and keeps ``epoch<k>.ckpt`` after each
length (:class:`~cl_robust.callbacks.EpochCheckpoints`), and its cell is evaluated and analysed
once per length, in runs whose ids end in ``-ep<k>`` (``evaluate-cifar10-cl-full_at-eps8-ep2``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from cl_robust.attacks import parse_eps
from cl_robust.data.datamodule import check_labeled_fraction
from cl_robust.errors import ConfigError
from cl_robust.models.factory import check_backbone_spec

DATASETS: tuple[str, ...] = ("cifar10", "cifar100")
#: The semi-supervised mixes (cl_robust.methods.SemiSupervisedMix): all scenarios, a labelled fraction.
MIXES: tuple[str, ...] = ("cl+scl", "cl+sl", "scl+sl")
SCHEMES: tuple[str, ...] = ("sl", "cl", "scl", *MIXES)
#: The reference's labelled fraction of the mixes.
DEFAULT_LABELED_FRACTION = 0.5
PHASES: tuple[str, ...] = ("pretrain", "finetune", "evaluate", "analyze")


@dataclass(frozen=True)
class Scenario:
    """How a scenario is trained: pretraining kind, fine-tuning mode (None: no fine-tuning), attack in it."""

    pretraining: str
    finetune_mode: str | None
    adversarial_finetune: bool

    @property
    def uses_eps(self) -> bool:
        return self.pretraining == "at" or self.adversarial_finetune


SCENARIOS: dict[str, Scenario] = {
    "st": Scenario("st", "linear", False),
    "at": Scenario("at", "linear", False),
    "partial_at": Scenario("at", "linear", True),
    "full_at": Scenario("at", "full", True),
    "st_partial_at": Scenario("st", "linear", True),
    "st_full_at": Scenario("st", "full", True),
}
VALID_SCENARIOS: dict[str, tuple[str, ...]] = {
    "cl": tuple(SCENARIOS),
    "scl": tuple(SCENARIOS),
    "sl": ("st", "at", "full_at", "st_full_at"),
    **{mix: tuple(SCENARIOS) for mix in MIXES},
}
#: Keys of the grid file; anything else is refused (a typo would silently do nothing).
KEYS: tuple[str, ...] = (
    "name", "output", "datasets", "schemes", "scenarios", "eps", "backbone", "seed", "seeds", "data", "pretrain",
    "finetune", "attack", "evaluate", "analyze", "trainer", "checkpoint", "wandb", "overrides", "configs",
    "launcher", "labeled_fraction", "finetune_lengths",
)
#: Keys that do not change what is trained and measured (where, and on what hardware): editing
#: them keeps the study's identity, so a study started on one machine continues on a cluster.
NEUTRAL_KEYS: tuple[str, ...] = ("output", "launcher", "trainer", "wandb")


@dataclass(frozen=True)
class Run:
    """One node of the DAG: a training run, an evaluation or an analysis."""

    run_id: str
    phase: str
    dataset: str
    scheme: str
    scenario: str
    eps: str | None
    needs: tuple[str, ...] = ()
    seed: int = 0
    #: For fine-tuning, evaluation and analysis: the run whose ``last.ckpt`` is the input.
    source: str | None = None
    finetune_mode: str | None = None
    adversarial: bool = False
    #: For evaluation and analysis with ``finetune_lengths``: the epochs of fine-tuning whose
    #: checkpoint (``epoch<k>.ckpt`` of the source run) is read; None: the run's ``last.ckpt``.
    length: int | None = None

    @property
    def cell(self) -> tuple[str, str, str, str | None, int | None]:
        """The (dataset, scheme, scenario, eps, fine-tuning length) the run belongs to, the same for every seed."""
        return (self.dataset, self.scheme, self.scenario, self.eps, self.length)


@dataclass
class StudySpec:
    """A checked grid file (``raw`` keeps every option as written, with defaults filled in)."""

    raw: dict[str, Any]
    base_dir: Path
    runs: list[Run] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.raw["name"]

    @property
    def output(self) -> Path:
        return Path(self.raw["output"])

    def option(self, key: str) -> dict[str, Any]:
        """A section of the grid (``data``, ``pretrain``, ...) as a dict (empty when absent)."""
        return dict(self.raw.get(key) or {})

    @property
    def spec_hash(self) -> str:
        """Identity of the study: the hash of every option that changes results."""
        kept = {key: value for key, value in self.raw.items() if key not in NEUTRAL_KEYS}
        return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def run(self, run_id: str) -> Run:
        return {run.run_id: run for run in self.runs}[run_id]

    def cells(self) -> list[Run]:
        """The evaluation run of every cell, in grid order."""
        return [run for run in self.runs if run.phase == "evaluate"]

    def select(self, pattern: str) -> list[Run]:
        """Runs whose id matches ``pattern`` (a run id or a shell glob)."""
        return [run for run in self.runs if fnmatch.fnmatchcase(run.run_id, pattern)]


def eps_tag(eps: str) -> str:
    """``8/255`` -> ``eps8``; a value that is no whole multiple of 1/255 -> ``eps0p05``."""
    value = parse_eps(eps, "eps")
    steps = value * 255
    if math.isclose(steps, round(steps), abs_tol=1e-6):
        return f"eps{round(steps)}"
    return "eps" + f"{value:g}".replace(".", "p")


def fraction_tag(fraction: float) -> str:
    """``0.5`` -> ``lf0p5``, ``1`` -> ``lf1``: the labelled fraction in a mix's run ids."""
    return "lf" + f"{float(fraction):g}".replace(".", "p")


def scheme_token(scheme: str, labeled_fraction: float | None) -> str:
    """A scheme as it appears in run ids: a mix carries its labelled fraction (``cl+scl-lf0p5``)."""
    if scheme in MIXES:
        return f"{scheme}-{fraction_tag(DEFAULT_LABELED_FRACTION if labeled_fraction is None else labeled_fraction)}"
    return scheme


def _as_list(key: str, value: Any) -> list[Any]:
    if value is None:
        raise ConfigError(f"{key} is required")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_names(key: str, names: list[Any], valid: tuple[str, ...], scope: str = "") -> None:
    if not names:  # an empty list would make a grid without runs, which "succeeds" doing nothing
        raise ConfigError(f"{key} is empty; give at least one of {', '.join(valid)}")
    for name in names:
        if name not in valid:
            raise ConfigError(f"{key}: unknown {scope}{key.rstrip('s')} {name!r}; valid: {', '.join(valid)}")


def _scenarios(raw: Any, schemes: list[str]) -> dict[str, list[str]]:
    """``all``, one list for every scheme, or a mapping scheme -> list."""
    if raw is None or raw == "all":
        return {scheme: list(VALID_SCENARIOS[scheme]) for scheme in schemes}
    if isinstance(raw, dict):
        if raw:  # an empty mapping lacks every scheme's list (said below)
            _check_names("schemes", list(raw), SCHEMES, "")
        missing = [scheme for scheme in schemes if scheme not in raw]
        if missing:
            raise ConfigError(f"scenarios: no list for scheme(s) {', '.join(missing)}; give one or use 'all'")
        chosen = {scheme: _as_list(f"scenarios.{scheme}", raw[scheme]) for scheme in schemes}
    else:
        chosen = {scheme: _as_list("scenarios", raw) for scheme in schemes}
    for scheme, names in chosen.items():
        if not names:
            where = f"scenarios.{scheme}" if isinstance(raw, dict) else "scenarios"
            raise ConfigError(f"{where} is empty; give at least one of {', '.join(VALID_SCENARIOS[scheme])}")
        _check_names("scenarios", names, tuple(SCENARIOS))
        invalid = [name for name in names if name not in VALID_SCENARIOS[scheme]]
        if invalid:
            raise ConfigError(f"scenarios: {', '.join(invalid)} not defined for scheme {scheme!r}; valid for "
                              f"{scheme}: {', '.join(VALID_SCENARIOS[scheme])} (give scenarios per scheme)")
    return chosen


def _seed_list(key: str, value: Any) -> list[int]:
    seeds = _as_list(key, value)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{key} must be a non-empty list of distinct integers >= 0 (seed: one integer; seeds: a "
                          f"list, or a mapping scheme -> list); got {value!r}")
    return seeds


def _seeds(raw: dict[str, Any], schemes: list[str]) -> tuple[list[int], dict[str, list[int]] | None]:
    """``seeds: [0, 1, 2]``, ``seeds: {cl: [0, 1, 2, 3, 4], sl: [0, 1, 2]}`` or ``seed: 0`` (not both keys).

    Returns every seed of the grid (sorted for a mapping) and the mapping (None for a list).
    """
    if "seeds" in raw and "seed" in raw:
        raise ConfigError("give either seed: (one run per cell) or seeds: (a list, one run per cell and seed), not both")
    value = raw.get("seeds")
    if isinstance(value, dict):
        _check_names("seeds", list(value), tuple(schemes), "")
        missing = [scheme for scheme in schemes if scheme not in value]
        if missing:
            raise ConfigError(f"seeds: no list for scheme(s) {', '.join(missing)}; give one for every scheme or one "
                              "list for all")
        by_scheme = {scheme: _seed_list(f"seeds.{scheme}", value[scheme]) for scheme in schemes}
        return sorted({seed for seeds in by_scheme.values() for seed in seeds}), by_scheme
    return (_seed_list("seeds", value) if "seeds" in raw else _seed_list("seed", [raw.get("seed", 0)])), None


def _check_lengths(lengths: Any) -> None:
    """``finetune_lengths``: an increasing list of distinct whole epochs >= 1."""
    values = list(lengths) if isinstance(lengths, (list, tuple)) else None
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values) \
            or values != sorted(set(values)):
        raise ConfigError("finetune_lengths must be an increasing list of distinct whole epochs >= 1 (adversarial "
                          f"fine-tuning is evaluated after each, e.g. [1, 2, 5]); got {lengths!r}")


def expand(datasets: list[str], scenarios: dict[str, list[str]], eps_list: list[str],
           seeds: list[int] | None = None, labeled_fraction: float | None = None,
           finetune_lengths: list[int] | None = None,
           seeds_by_scheme: dict[str, list[int]] | None = None) -> list[Run]:
    """All runs of the grid in an order where every run comes after what it needs.

    With more than one seed every run is repeated per seed, its id ending in ``-seed<k>``; with
    ``seeds_by_scheme`` a scheme runs only its own seeds.
    ``labeled_fraction`` (None: 0.5) goes into the run ids of the mixes. With ``finetune_lengths``
    the cells of adversarial fine-tuning are evaluated and analysed once per length (``-ep<k>``).
    """
    seeds = seeds or [0]
    if len(seeds) > 1:
        # Seed after seed: a study stopped part way has whole seeds to report.
        return [_with_seed(run) for seed in seeds
                for run in expand(datasets, _with(scenarios, seed, seeds_by_scheme), eps_list, [seed],
                                  labeled_fraction, finetune_lengths)]
    seed = seeds[0]
    pretrain: dict[str, Run] = {}
    finetune: list[Run] = []
    cells: list[Run] = []
    for dataset in datasets:
        for scheme, names in scenarios.items():
            for name in names:
                scenario = SCENARIOS[name]
                for eps in (eps_list if scenario.uses_eps else [None]):
                    tag = f"-{eps_tag(eps)}" if eps is not None else ""
                    pre_tag = tag if scenario.pretraining == "at" else ""
                    token = scheme_token(scheme, labeled_fraction)
                    pre_id = f"pretrain-{dataset}-{token}-{scenario.pretraining}{pre_tag}"
                    pretrain.setdefault(pre_id, Run(pre_id, "pretrain", dataset, scheme, scenario.pretraining,
                                                    eps if scenario.pretraining == "at" else None, seed=seed,
                                                    adversarial=scenario.pretraining == "at"))
                    source = pre_id
                    suffix = f"{dataset}-{token}-{name}{tag}"
                    if not (scheme == "sl" and name in ("st", "at")):
                        source = f"finetune-{suffix}"
                        finetune.append(Run(source, "finetune", dataset, scheme, name, eps, (pre_id,), seed, pre_id,
                                            scenario.finetune_mode, scenario.adversarial_finetune))
                    lengths = finetune_lengths if finetune_lengths and scenario.adversarial_finetune else [None]
                    for length in lengths:
                        end = "" if length is None else f"-ep{length}"
                        for phase in ("evaluate", "analyze"):
                            cells.append(Run(f"{phase}-{suffix}{end}", phase, dataset, scheme, name, eps, (source,),
                                             seed, source, length=length))
    return [*pretrain.values(), *finetune, *cells]


def _with(scenarios: dict[str, list[str]], seed: int,
          seeds_by_scheme: dict[str, list[int]] | None) -> dict[str, list[str]]:
    """The schemes (with their scenarios) that run ``seed``."""
    if seeds_by_scheme is None:
        return scenarios
    return {scheme: names for scheme, names in scenarios.items() if seed in seeds_by_scheme[scheme]}


def _with_seed(run: Run) -> Run:
    """``run`` of a several-seed grid: its id, prerequisites and source end in ``-seed<k>``."""
    tag = f"-seed{run.seed}"
    return replace(run, run_id=run.run_id + tag, needs=tuple(need + tag for need in run.needs),
                   source=run.source + tag if run.source else None)


def check_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate names and fill defaults; returns the normalised grid (raises ConfigError)."""
    if not isinstance(raw, dict):
        raise ConfigError("the study file must be a YAML mapping (name:, datasets:, schemes:, ...)")
    unknown = [key for key in raw if key not in KEYS]
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(map(repr, unknown))} in the study file; valid: {', '.join(KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"name must be a non-empty word (the study's folder and W&B group), got {name!r}")
    datasets = _as_list("datasets", raw.get("datasets"))
    _check_names("datasets", datasets, DATASETS)
    schemes = _as_list("schemes", raw.get("schemes"))
    _check_names("schemes", schemes, SCHEMES)
    scenarios = _scenarios(raw.get("scenarios", "all"), schemes)
    eps_list = [str(eps) for eps in _as_list("eps", raw.get("eps", ["8/255"]))]
    adversarial = sorted({name for names in scenarios.values() for name in names if SCENARIOS[name].uses_eps})
    if not eps_list and adversarial:
        raise ConfigError(f"eps is empty but the scenarios {', '.join(adversarial)} train adversarially; give at "
                          "least one training eps, e.g. eps: [8/255]")
    for eps in eps_list:
        value = parse_eps(eps, "eps")
        if not 0 < value <= 1:
            hint = f" (did you mean {value:g}/255?)" if value > 1 else ""
            raise ConfigError(f"eps: training eps must be in (0, 1] (L-inf, pixels in [0, 1]), e.g. 8/255; "
                              f"got {eps!r}{hint}")
    check_backbone_spec(raw.get("backbone", "resnet18"))
    overrides = raw.get("overrides") or []
    for index, override in enumerate(overrides):
        if not isinstance(override, dict) or set(override) != {"runs", "set"} or not isinstance(override["set"], dict):
            raise ConfigError(f"overrides[{index}] must be a mapping with 'runs' (run id or glob) and 'set' "
                              "(dotted key -> value)")
    data = dict(raw.get("data") or {})
    source = data.get("source", "files")
    if source not in ("files", "synthetic"):
        raise ConfigError(f"data.source must be 'files' or 'synthetic', got {source!r}")
    launcher = raw.get("launcher", "auto")
    if launcher not in ("auto", "fork", "subprocess"):
        raise ConfigError(f"launcher must be one of 'auto', 'fork', 'subprocess'; got {launcher!r}")
    seeds, seeds_by_scheme = _seeds(raw, schemes)
    if "finetune_lengths" in raw:
        _check_lengths(raw["finetune_lengths"])
    # labeled_fraction belongs to the mixes: without one it is left out (a study's identity stays as it was).
    normal = {key: value for key, value in raw.items() if key not in ("seed", "seeds", "labeled_fraction")}
    if seeds_by_scheme is not None:
        normal["seeds_by_scheme"] = seeds_by_scheme
    if any(scheme in MIXES for scheme in schemes):
        normal["labeled_fraction"] = check_labeled_fraction(raw.get("labeled_fraction", DEFAULT_LABELED_FRACTION))
    return {**normal, "output": str(raw.get("output") or f"results/{name}"), "datasets": datasets, "schemes": schemes,
            "scenarios": scenarios, "eps": eps_list, "backbone": raw.get("backbone", "resnet18"),
            "seeds": seeds, "overrides": overrides, "launcher": launcher,
            "data": {**data, "source": source}, "wandb": raw.get("wandb", False)}


def load_spec(path: str | Path, output: str | Path | None = None) -> StudySpec:
    """Read, check and expand the grid file at ``path`` (``output`` replaces its ``output:``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"study file {str(path)!r} is not valid YAML: {str(error).splitlines()[0]}") from None
    if isinstance(raw, dict) and output is not None:
        raw["output"] = str(output)
    return spec_from_dict(raw, path.resolve().parent)


def spec_from_dict(raw: dict[str, Any], base_dir: Path) -> StudySpec:
    """A checked, expanded study from an already-read grid mapping."""
    normal = check_spec(raw)
    spec = StudySpec(normal, base_dir)
    spec.runs = expand(normal["datasets"], normal["scenarios"], normal["eps"], normal["seeds"],
                       normal.get("labeled_fraction"), normal.get("finetune_lengths"), normal.get("seeds_by_scheme"))
    return spec
