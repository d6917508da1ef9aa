"""``finetune_lengths``: one adversarial fine-tuning run, evaluated and analysed after each length."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from cl_robust.errors import ConfigError
from cl_robust.study.grid import load_spec

from .conftest import smoke_grid, study, summary, write_grid

FINETUNE = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 0, "model": {"lr": 0.01}}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return {key: value for key, value in torch.load(path, map_location="cpu", weights_only=False)["state_dict"].items()
            if key.startswith("encoder.")}


def test_each_length_is_evaluated_and_analysed_from_its_epoch_checkpoint(grid_dir: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    grid = write_grid(grid_dir, schemes=["cl"], scenarios={"cl": ["at", "full_at"]}, finetune_lengths=[1, 2],
                      finetune=FINETUNE)
    output = grid_dir / "out"
    assert study("--config", str(grid), "--output", str(output)) == 0
    # Not a terminal: the final table is not cut at 80 columns ("datas…", "full_…").
    printed = capsys.readouterr().out
    assert "seeds eval./anal." in printed and "full_at (2 ep)" in printed and "…" not in printed
    runs = output / "runs"
    checkpoints = runs / "finetune-cifar10-cl-full_at-eps8" / "checkpoints"
    first, second, last = (_weights(checkpoints / name) for name in ("epoch1.ckpt", "epoch2.ckpt", "last.ckpt"))
    assert all(torch.equal(second[key], last[key]) for key in last)  # the longest length is the run's end
    assert any(not torch.equal(first[key], second[key]) for key in first)  # one more epoch moved the encoder
    for length in (1, 2):
        for phase in ("evaluate", "analyze"):
            command = (runs / f"{phase}-cifar10-cl-full_at-eps8-ep{length}" / "command.txt").read_text()
            assert f"checkpoints/epoch{length}.ckpt" in command
    # The linear probe of `at` has no lengths: one evaluation of its last.ckpt.
    assert (runs / "evaluate-cifar10-cl-at-eps8" / "robustness.json").is_file()
    assert not list(runs.glob("finetune-cifar10-cl-at-eps8/checkpoints/epoch[0-9].ckpt"))
    report = summary(output)
    assert {(cell["scenario"], cell["length"]) for cell in report["cells"]} == {("at", None), ("full_at", 1),
                                                                                ("full_at", 2)}
    # C2 judged at each length, on both statistics, with the paired interval's verdict beside the rule's.
    claims = [entry for entry in report["claims"] if entry["id"] == "C2"]
    assert [(entry["comparison"], entry["length"]) for entry in claims] == [("full_at (1 ep) - at", 1),
                                                                             ("full_at (2 ep) - at", 2)]
    for entry in claims:
        assert entry["reference_statistic"]["name"].startswith("reference statistic: torch_cka's layer set")
        assert entry["reference_statistic"]["verdict"] == "inconclusive"  # one seed
        assert entry["without_noise_floor"]["reason"] == "fewer than 2 seeds"
    assert all(cell["reference"]["clean"] is not None for cell in report["aggregated"])
    assert (output / "figures" / "redundancy_by_length_cifar10_eps8.png").is_file()
    assert "full_at (2 ep)" in (output / "report.md").read_text()


@pytest.mark.parametrize("lengths", [[], [2, 1], [1, 1], [0, 2], "2", [1.5]])
def test_bad_lengths_are_refused_naming_the_key(grid_dir: Path, lengths: object) -> None:
    grid = write_grid(grid_dir, schemes=["cl"], scenarios={"cl": ["full_at"]}, finetune_lengths=lengths)
    with pytest.raises(ConfigError, match="finetune_lengths must be an increasing list of distinct whole epochs"):
        load_spec(grid)


def test_an_override_that_shortens_the_run_is_refused(grid_dir: Path) -> None:
    grid = write_grid(grid_dir, schemes=["cl"], scenarios={"cl": ["full_at"]}, finetune_lengths=[1, 3],
                      overrides=[{"runs": "finetune-*", "set": {"trainer.max_epochs": 2}}])
    assert study("--config", str(grid), "--output", str(grid_dir / "out"), "--list") == 2


def test_seeds_may_be_given_per_scheme(grid_dir: Path) -> None:
    raw = {key: value for key, value in smoke_grid().items() if key != "seed"}
    raw.update(schemes=["cl", "sl"], scenarios={"cl": ["st"], "sl": ["st"]}, seeds={"cl": [0, 2], "sl": [1]})
    (grid_dir / "grid.yaml").write_text(yaml.safe_dump(raw))
    spec = load_spec(grid_dir / "grid.yaml")
    pretraining = {run.run_id for run in spec.runs if run.phase == "pretrain"}
    assert pretraining == {"pretrain-cifar10-cl-st-seed0", "pretrain-cifar10-cl-st-seed2", "pretrain-cifar10-sl-st-seed1"}
    assert spec.raw["seeds"] == [0, 1, 2]
    raw["seeds"] = {"cl": [0]}
    (grid_dir / "grid.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="seeds: no list for scheme"):
        load_spec(grid_dir / "grid.yaml")
