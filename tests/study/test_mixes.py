"""The semi-supervised mixes in the study grid: every scenario, their config files, and the labelled
fraction in their run ids, so studies with different fractions never share a run folder."""
from __future__ import annotations

from pathlib import Path

from cl_robust.methods import MIXES as LIBRARY_MIXES
from cl_robust.study.configs import compose
from cl_robust.study.grid import MIXES, SCENARIOS, load_spec, spec_from_dict

from .conftest import smoke_grid, write_grid


def test_the_grid_knows_the_library_mixes() -> None:
    assert set(MIXES) == set(LIBRARY_MIXES)


def test_mixes_run_every_scenario_with_the_fraction_in_their_ids(tmp_path: Path) -> None:
    spec = load_spec(write_grid(tmp_path, schemes=["cl+scl", "cl+sl", "scl+sl"], labeled_fraction=0.25))
    assert spec.raw["labeled_fraction"] == 0.25
    assert {(run.scheme, run.scenario) for run in spec.cells()} == {(m, s) for m in MIXES for s in SCENARIOS}
    run = spec.run("pretrain-cifar10-cl+scl-lf0p25-at-eps8")
    config = compose(spec, run, tmp_path / "run", None)
    model = config["model"]
    assert model["class_path"] == "cl_robust.methods.SemiSupervisedMix" and model["init_args"]["mix"] == "cl+scl"
    assert model["init_args"]["labeled_fraction"] == 0.25
    assert config["adversarial"]["class_path"] == "cl_robust.callbacks.AdversarialPretraining"
    finetune = spec.run("finetune-cifar10-scl+sl-lf0p25-full_at-eps8")
    assert finetune.needs == ("pretrain-cifar10-scl+sl-lf0p25-at-eps8",)
    assert compose(spec, finetune, tmp_path / "ft", tmp_path / "x.ckpt")["model"]["init_args"]["expected_scheme"] == "scl+sl"


def test_different_fractions_give_different_run_ids_and_the_default_is_half(tmp_path: Path) -> None:
    default = {key: value for key, value in smoke_grid().items() if key != "labeled_fraction"}
    ids = {"default": {run.run_id for run in spec_from_dict({**default, "schemes": ["cl", "cl+sl"]}, tmp_path).runs}}
    for fraction in (0.5, 0.1):
        folder = tmp_path / str(fraction)
        folder.mkdir()
        path = write_grid(folder, schemes=["cl", "cl+sl"], labeled_fraction=fraction)
        ids[fraction] = {run.run_id for run in load_spec(path).runs}
    assert ids["default"] == ids[0.5] and "pretrain-cifar10-cl+sl-lf0p5-st" in ids[0.5]
    assert "pretrain-cifar10-cl+sl-lf0p1-st" in ids[0.1]
    mix_ids = {fraction: {i for i in found if "cl+sl" in i} for fraction, found in ids.items()}
    assert mix_ids[0.5] and mix_ids[0.5].isdisjoint(mix_ids[0.1])
    assert ids[0.5] - mix_ids[0.5] == ids[0.1] - mix_ids[0.1], "the other schemes' runs are the same"


def test_a_study_without_mixes_keeps_its_identity(tmp_path: Path) -> None:
    with_key = load_spec(write_grid(tmp_path, schemes=["sl", "cl"]))
    assert "labeled_fraction" not in with_key.raw
