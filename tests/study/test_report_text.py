"""What the report's tables and figures say: eps of every attack, layer names, what a panel averages."""
from __future__ import annotations

from pathlib import Path

from cl_robust.study.figures import _seeds_text, cka_grid, short_layer_name
from cl_robust.study.report import accuracy_table, eps_text, unfinished_line


def _cell(scheme: str, label: str, seeds: list[int]) -> dict:
    attacks = {"clean": {"threat_model": "clean", "eps": 0.0, "mean": 0.5, "sd": 0.0, "n": len(seeds)},
               "pgd20:steps=10": {"threat_model": "TM-II", "eps": 8 / 255, "mean": 0.2, "sd": 0.0, "n": len(seeds)},
               "tm1:steps=10": {"threat_model": "TM-I", "eps": 4 / 255, "mean": 0.3, "sd": 0.0, "n": len(seeds)}}
    return {"scheme": scheme, "label": label, "attacks": attacks, "seeds_evaluated": seeds, "seeds_analysed": seeds,
            "ci95": {}, "layers": ["encoder.layer1.0", "encoder.avgpool", "classifier"],
            "cka": {"clean": [[1.0, 0.5, 0.4], [0.5, 1.0, 0.6], [0.4, 0.6, 1.0]]}}


def test_every_attack_names_its_eps() -> None:
    header = accuracy_table([_cell("cl", "st", [0, 1])])[0]
    assert "pgd20:steps=10 (TM-II, eps 8/255)" in header and "tm1:steps=10 (TM-I, eps 4/255)" in header
    assert "clean (clean) |" in header  # no eps for clean accuracy
    assert eps_text(0.05) == "0.05" and eps_text("8/255") == "8/255"


def test_heatmap_axes_name_layers_and_the_colour_bar_says_what_it_averages(tmp_path: Path) -> None:
    assert [short_layer_name(n) for n in ("encoder.layer2.1", "encoder.avgpool", "classifier")] == \
        ["layer2.1", "pool", "fc"]
    one = {("cl", "st"): _cell("cl", "st", [0])}
    three = {("cl", "st"): _cell("cl", "st", [0, 1, 2]), ("cl", "at"): _cell("cl", "at", [0, 1])}
    assert _seeds_text(one) == "one seed"
    assert _seeds_text(three) == "mean over 2-3 seeds"
    assert cka_grid(three, ["cl"], ["st", "at", "full_at"], "clean", "t", tmp_path / "grid.png").is_file()


def test_a_report_of_an_unfinished_study_says_how_much_is_missing() -> None:
    statuses = {"a": {"status": "done"}, "b": {"status": "done"}, "c": {"status": "not run"},
                "d": {"status": "failed"}}
    line = unfinished_line(statuses)
    assert line is not None and "2 of 4 runs done, 1 not run yet" in line
    assert unfinished_line({"a": {"status": "done"}, "b": {"status": "skipped"}}) is None
