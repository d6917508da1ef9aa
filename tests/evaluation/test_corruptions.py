"""``--attacks corruptions``: CIFAR-10-C's corruptions scored like attacks, their summary, mCE and bad inputs."""
import csv
import json
from pathlib import Path

import pytest
import torch

from cl_robust.cli import main
from cl_robust.corruptions import CORRUPTIONS
from cl_robust.errors import ConfigError
from cl_robust.evaluation.corruption_summary import mean_corruption_error, summarize
from cl_robust.evaluation.suite import parse_attacks

CHOSEN = "corruptions:names=fog,impulse_noise,elastic_transform:severities=2,5"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    assert exit_info.value.code in (0, None), captured.err
    return captured.out


def test_corruptions_expands_to_the_15_by_5_of_cifar10c() -> None:
    specs = parse_attacks(["clean", "corruptions"])
    corruptions = [spec for spec in specs if spec.kind == "corruption"]
    assert len(corruptions) == 75
    assert [spec.name for spec in corruptions[:6]] == [*(f"gaussian_noise-s{s}" for s in range(1, 6)), "shot_noise-s1"]
    assert {spec.corruption for spec in corruptions} == set(CORRUPTIONS)


def test_names_and_severities_keep_their_commas_inside_one_entry() -> None:
    specs = parse_attacks(["clean,corruptions:names=fog,contrast:severities=3,5,fgsm", "pgd20"])
    assert [spec.name for spec in specs] == ["clean", "fog-s3", "fog-s5", "contrast-s3", "contrast-s5", "fgsm", "pgd20"]
    extra = parse_attacks(["corruptions:names=spatter,saturate:severities=1"])
    assert [(s.corruption, s.severity) for s in extra] == [("spatter", 1), ("saturate", 1)]


BAD_ENTRIES = [
    pytest.param(["corruptions:names=fgo"], "attack 'corruptions:names=fgo': unknown corruption 'fgo'; known: "
                 "gaussian_noise, shot_noise", id="unknown corruption"),
    pytest.param(["corruptions:severities=6"], "attack 'corruptions:severities=6': severities must be integers from 1 "
                 "to 5 (CIFAR-10-C's five levels), comma-separated; got '6'", id="severity 6"),
    pytest.param(["corruptions:severities=0,2"], "got '0'", id="severity 0"),
    pytest.param(["corruptions:level=3"], "corruptions takes the options names=a,b,... and severities=1,...,5; got "
                 "'level=3'", id="unknown option"),
    pytest.param(["corruptions:names=fog", "contrast"], "unknown attack 'contrast'", id="name as its own entry"),
]


@pytest.mark.parametrize(("attacks", "message"), BAD_ENTRIES)
def test_bad_corruption_entries_are_refused(attacks: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_attacks(attacks)
    assert message in str(raised.value)


@pytest.mark.parametrize(("attacks", "message"), BAD_ENTRIES[:2])
def test_bad_corruption_entries_exit_2_with_one_line(attacks: list[str], message: str, sl_checkpoint: Path,
                                                     data_root: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--device", "cpu",
              "--attacks", *attacks, "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cl-robust: error: {message}") and "\n" not in err
    assert not (tmp_path / "out" / "robustness.json").exists()


def test_evaluate_reports_each_corruption_and_severity_with_intervals(sl_checkpoint: Path, data_root: str,
                                                                     tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--device", "cpu",
               "--attacks", "clean", CHOSEN, "--output", str(tmp_path)], capsys)
    report = json.loads((tmp_path / "robustness.json").read_text())
    records = [r for r in report["results"] if r["kind"] == "corruption"]
    assert [(r["corruption"], r["severity"]) for r in records] == [
        ("fog", 2), ("fog", 5), ("impulse_noise", 2), ("impulse_noise", 5), ("elastic_transform", 2),
        ("elastic_transform", 5)]
    assert all(r["total"] == 20 and r["ci95"][0] <= r["accuracy"] <= r["ci95"][1] for r in records)
    summary = report["corruptions"]
    assert summary["mean_accuracy"] == pytest.approx(sum(r["accuracy"] for r in records) / 6)
    assert summary["families"]["weather"] == pytest.approx((records[0]["accuracy"] + records[1]["accuracy"]) / 2)
    assert set(summary["families"]) == {"weather", "noise", "digital"}
    assert summary["pixels"].startswith("uint8") and summary["cifar10c_set"] is False and summary["mce"] is None
    assert "## Common corruptions" in out and "Mean corruption accuracy" in out
    main_table = out.split("## Common corruptions")[0]
    assert "fog-s2" not in main_table  # corruptions have their own table, not rows of the attack table
    with (tmp_path / "per_sample.csv").open() as handle:
        header = next(csv.reader(handle))
    assert "fog-s5" in header and "elastic_transform-s2" in header
    worse = {r["name"]: r["correct"] for r in records}
    assert worse["impulse_noise-s5"] <= report["results"][0]["correct"]


def test_the_baseline_gives_the_mean_corruption_error(sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The model as its own baseline, on the same corrupted images: every CE is exactly 100%."""
    out = run(["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--device", "cpu",
               "--attacks", "clean", "corruptions:names=fog,contrast:severities=3,5", "--output", str(tmp_path),
               "--corruption_baseline", str(sl_checkpoint)], capsys)
    mce = json.loads((tmp_path / "robustness.json").read_text())["corruptions"]["mce"]
    assert mce["mce"] == pytest.approx(100.0)
    assert all(value["ce"] == pytest.approx(100.0) for value in mce["per_corruption"].values())
    assert mce["baseline"] == str(sl_checkpoint)
    assert "**mCE 100.0%**" in out


def test_mce_arithmetic() -> None:
    """CE_c = sum_s E / sum_s E_base; relative CE subtracts each model's clean error (Hendrycks & Dietterich 2019)."""
    def records(clean: float, grid: dict[str, list[float]]) -> list[dict]:
        rows = [{"kind": "clean", "accuracy": clean, "skipped": None, "total": 100}]
        for name, accuracies in grid.items():
            rows += [{"kind": "corruption", "corruption": name, "severity": s, "accuracy": a, "skipped": None,
                      "total": 100, "correct": round(100 * a), "ci95": [0, 1]} for s, a in enumerate(accuracies, 1)]
        return rows

    model = records(0.9, {"fog": [0.8, 0.6], "contrast": [0.7, 0.5]})
    base = records(0.8, {"fog": [0.6, 0.2], "contrast": [0.6, 0.4]})
    result = mean_corruption_error(model, base, "base.ckpt")
    # fog: (0.2 + 0.4) / (0.4 + 0.8) = 50%; contrast: (0.3 + 0.5) / (0.4 + 0.6) = 80%
    assert result["per_corruption"]["fog"]["ce"] == pytest.approx(50.0)
    assert result["per_corruption"]["contrast"]["ce"] == pytest.approx(80.0)
    assert result["mce"] == pytest.approx(65.0)
    # relative fog: (0.1 + 0.3) / (0.2 + 0.6) = 50%; contrast: (0.2 + 0.4) / (0.2 + 0.4) = 100%
    assert result["relative_mce"] == pytest.approx(75.0)
    summary = summarize(model, {"checkpoint": "base.ckpt", "results": base})
    assert summary["mean_accuracy"] == pytest.approx(0.65) and summary["mce"]["mce"] == pytest.approx(65.0)


def _checkpoint_of_another_data_set(sl_checkpoint: Path, folder: Path) -> Path:
    checkpoint = torch.load(sl_checkpoint, map_location="cpu", weights_only=False)
    checkpoint["datamodule_hyper_parameters"]["dataset"] = "cifar100"
    path = folder / "cifar100.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("case", ["another data set", "no corruptions run"])
def test_a_baseline_that_cannot_serve_is_refused(case: str, sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    baseline = _checkpoint_of_another_data_set(sl_checkpoint, tmp_path) if case == "another data set" else sl_checkpoint
    attacks = ["clean", "corruptions:names=fog"] if case == "another data set" else ["clean"]
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--device", "cpu",
              "--attacks", *attacks, "--output", str(tmp_path / "out"), "--corruption_baseline", str(baseline)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    expected = {
        "another data set": f"cl-robust: error: corruption_baseline: '{baseline}' was trained on cifar100, but this "
                            "evaluation is on cifar10; mCE compares errors on the same corrupted images: give a "
                            "baseline trained on cifar10",
        "no corruptions run": "cl-robust: error: corruption_baseline: the mean corruption error needs corruptions in "
                              "--attacks (e.g. --attacks clean corruptions); none were asked for",
    }[case]
    assert err == expected
    assert not (tmp_path / "out" / "robustness.json").exists()


@pytest.mark.slow  # each --devices 2 run starts two Python processes
def test_two_ranks_score_the_same_corrupted_images(sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Batches of 6 (6, 6, 6, 2) shared between 2 ranks: corruptions are seeded per batch, so the per-image
    outcomes equal one process's, and a second run equals the first."""
    args = ["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--batch_size", "6",
            "--device", "cpu", "--attacks", "clean", CHOSEN]
    files = {}
    for name, devices in (("one", 1), ("two", 2), ("again", 1)):
        run([*args, "--devices", str(devices), "--output", str(tmp_path / name)], capsys)
        files[name] = ((tmp_path / name / "per_sample.csv").read_text(),
                       json.loads((tmp_path / name / "robustness.json").read_text())["corruptions"])
    assert files["two"] == files["one"] == files["again"]


def test_wandb_gets_the_corruption_scalars_and_table() -> None:
    from cl_robust.evaluation.report import log_to_wandb

    results = [{"name": "clean", "kind": "clean", "threat_model": "clean", "norm": "linf", "eps": 0.0, "steps": 0,
                "step_size": 0.0, "random_start": False, "correct": 8, "total": 10, "accuracy": 0.8, "ci95": [0.5, 0.9],
                "seconds": 0.1, "skipped": None}]
    results += [{**results[0], "name": f"fog-s{s}", "kind": "corruption", "threat_model": "corruption", "norm": "none",
                 "corruption": "fog", "severity": s, "correct": 8 - 2 * s, "accuracy": (8 - 2 * s) / 10} for s in (1, 2)]
    report = {"results": results, "worst_case": [], "masking": {"suspected": False},
              "corruptions": summarize(results)}

    class Run:
        logged: dict = {}

        def log(self, values: dict) -> None:
            self.logged.update(values)

    run = Run()
    log_to_wandb(run, report)
    assert run.logged["corruption/mean_accuracy"] == pytest.approx(0.5)
    assert run.logged["corruption/weather"] == pytest.approx(0.5)
    assert run.logged["corruption_acc/fog-s2"] == pytest.approx(0.4) and "robust_acc/fog-s2" not in run.logged
    assert len(run.logged["corruptions"].data) == 2 and len(run.logged["robustness"].data) == 1
