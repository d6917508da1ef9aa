"""Same seed, same numbers on the CPU, run after run; another seed, other numbers. Every run
records its seed, library versions and full config."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cl_robust.cli import RUN_RECORD_KEY, VERSIONED_PACKAGES

from .conftest import CONFIGS, cli_in_process, run_dir_args, tiny_args


def tiny_fit(root: str, run_dir: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> dict:
    args = ["fit", "--config", str(CONFIGS / "pretrain" / "cl.yaml"), *tiny_args(root, steps=3),
            *run_dir_args(run_dir), "--seed_everything", str(seed), "--trainer.log_every_n_steps", "1"]
    code, err = cli_in_process(args, capsys)
    assert code == 0, err[-2000:]
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def logged(run_dir: Path) -> list[dict[str, str]]:
    (path,) = run_dir.glob("lightning_logs/version_*/metrics.csv")
    with open(path) as file:
        return list(csv.DictReader(file))


def same_weights(first: dict, second: dict) -> bool:
    return all(torch.equal(value, second["state_dict"][name]) for name, value in first["state_dict"].items())




def test_same_seed_same_numbers_other_seed_other_numbers(synthetic_root: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    first = tiny_fit(synthetic_root, tmp_path / "a", seed=1, capsys=capsys)
    torch.manual_seed(12345)  # the global state before a run must not matter: the CLI seeds it
    second = tiny_fit(synthetic_root, tmp_path / "b", seed=1, capsys=capsys)
    other = tiny_fit(synthetic_root, tmp_path / "c", seed=2, capsys=capsys)
    assert same_weights(first, second)
    assert logged(tmp_path / "a") == logged(tmp_path / "b")
    assert not same_weights(first, other)
    assert logged(tmp_path / "a") != logged(tmp_path / "c")

    record = first[RUN_RECORD_KEY]
    assert record["seed"] == 1
    assert set(VERSIONED_PACKAGES) <= set(record["versions"])
    assert record["versions"]["torch"] and torch.__version__.startswith(record["versions"]["torch"])
    (log_dir,) = (tmp_path / "a").glob("lightning_logs/version_*")
    saved = json.loads((log_dir / "versions.json").read_text())
    assert saved["seed"] == 1 and saved["versions"]["lightning"] and saved["versions"]["cl_robust"]
    config = (log_dir / "config.yaml").read_text()
    assert "seed_everything: 1" in config and "resnet_tiny" in config
