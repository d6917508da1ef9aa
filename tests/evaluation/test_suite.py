"""Attack names, options and checks of the evaluation suite."""
import re

import pytest

from cl_robust.errors import ConfigError
from cl_robust.evaluation.suite import DEFAULT_ATTACKS, PRESETS, parse_attacks


def test_presets_carry_the_field_and_reference_settings() -> None:
    pgd20, reference = PRESETS["pgd20"], PRESETS["pgd40-ref"]
    assert (pgd20.eps, pgd20.steps, pgd20.step_size, pgd20.random_start) == (8 / 255, 20, 2 / 255, True)
    assert (reference.eps, reference.steps, reference.step_size, reference.random_start) == (4 / 255, 40, 0.01, False)
    assert PRESETS["tm1"].threat_model == "TM-I" and PRESETS["pgd20"].threat_model == "TM-II"


def test_default_suite_has_the_sweep_l2_autoattack_and_the_masking_checks_once_each() -> None:
    specs = parse_attacks(DEFAULT_ATTACKS)
    eps_of_linf_pgd20 = sorted(round(s.eps * 255) for s in specs if s.kind == "pgd" and s.norm == "linf"
                               and s.steps == 20 and s.eps < 1)
    assert eps_of_linf_pgd20 == [2, 4, 8, 16]  # the sweep's 8/255 is pgd20 itself: run once
    assert [s.kind for s in specs].count("autoattack") == 1 and any(s.norm == "l2" for s in specs)
    names = {s.name for s in specs}
    assert {"pgd100", "pgd20-unbounded"} <= names  # more steps; a very large eps


def test_autoattack_is_the_original_standard_version_and_the_fast_one_is_labelled() -> None:
    original, l2, fast = PRESETS["autoattack"], PRESETS["autoattack-l2"], PRESETS["autoattack-fast"]
    assert (original.kind, original.eps, original.steps, original.queries) == ("autoattack", 8 / 255, 100, 5000)
    assert (l2.norm, l2.eps, l2.steps, l2.queries) == ("l2", 0.5, 100, 5000)
    assert (fast.kind, fast.steps) == ("autoattack-fast", 10)
    (short,) = parse_attacks(["autoattack:steps=5:queries=20:eps=4/255"])
    assert (short.steps, short.queries, short.eps) == (5, 20, 4 / 255)


def test_options_override_a_preset_and_name_it() -> None:
    (spec,) = parse_attacks(["pgd20:eps=4/255:steps=5:random_start=false"])
    assert (spec.eps, spec.steps, spec.random_start, spec.name) == (4 / 255, 5, False,
                                                                    "pgd20:eps=4/255:steps=5:random_start=false")
    assert [s.name for s in parse_attacks(["clean,fgsm"])] == ["clean", "fgsm"]


@pytest.mark.parametrize(("text", "message"), [
    ("pgd7", "unknown attack 'pgd7'"),
    ("pgd20:eps=8", "did you mean 8/255"),
    ("pgd20:colour=red", "unknown option 'colour'"),
    ("pgd20:steps=0", "steps must be an integer >= 1"),
    ("autoattack:norm=l3", "norm must be one of"),
    ("autoattack:queries=0", "queries must be an integer >= 1"),
    ("autoattack:random_start=true", "autoattack does not take the option 'random_start'"),
    ("autoattack-fast:steps=100", "autoattack-fast does not take the option 'steps'"),
    ("pgd20:queries=10", "pgd20 does not take the option 'queries'"),
    ("clean:eps=8/255", "'clean' takes no options"),
    ("fgsm:steps=10", "fgsm does not take the option 'steps'; options: eps, norm, random_start"),
    ("fgsm:step=1/255", "fgsm does not take the option 'step'"),
    ("pgd20-sweep:steps=3", "pgd20-sweep takes no options (its eps values come from --eps"),
    ("pgd20-sweep:eps=4/255", "give pgd20 with options, e.g. pgd20:eps=4/255:steps=3"),
])
def test_bad_attacks_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_attacks([text])
