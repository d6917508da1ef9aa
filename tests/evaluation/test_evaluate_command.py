"""``cl-robust evaluate`` from checkpoints made in the tests, and its one-line errors."""
import csv
import json
from pathlib import Path

import pytest

from cl_robust.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err.strip()


def test_evaluate_writes_json_markdown_and_the_per_sample_file(cl_finetuned_checkpoint: Path, data_root: str,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    attacks = ["clean", "fgsm", "pgd20:steps=2", "tm1:steps=2", "autoattack:steps=3:queries=20",
               "autoattack-fast:eps=64/255"]
    code, out, _ = run_cli(["evaluate", "--checkpoint", str(cl_finetuned_checkpoint), "--data.root", data_root,
                            "--batch_size", "8", "--data.test_per_class", "1", "--device", "cpu", "--output",
                            str(output), "--attacks", *attacks, "--wandb"], capsys)
    assert code == 0 and "robustness.json" in out
    report = json.loads((output / "robustness.json").read_text())
    names = [r["name"] for r in report["results"]]
    assert names == attacks
    assert all(r["total"] == 10 and isinstance(r["correct"], int) for r in report["results"])
    for r in report["results"]:  # every accuracy with its 95% interval
        low, high = r["ci95"]
        assert low <= r["accuracy"] <= high
    assert report["checkpoint"]["metadata"]["pretrained_scheme"] == "cl" and report["dataset"]["images"] == 10
    assert {"torch", "torchattacks", "pyautoattack", "cl_robust"} <= set(report["versions"])
    pgd = report["results"][2]
    assert (pgd["norm"], pgd["steps"], pgd["step_size"], pgd["random_start"]) == ("linf", 2, 2 / 255, True)
    original = report["results"][4]
    assert (original["iterations"], original["queries"], original["target_classes"]) == (3, 20, 9)
    assert original["implementation"].startswith("pyautoattack") and set(original["checks"]) >= {
        "randomized", "probability_outputs", "zero_gradients", "square"}
    worst = {round(case["eps"] * 255): case for case in report["worst_case"]}  # one per L-inf eps (tm1's is 4/255)
    assert set(worst) == {4, 8, 64} and worst[4]["attacks"] == ["clean", "tm1:steps=2"]
    assert "tm1:steps=2" in worst[8]["attacks"] and "autoattack-fast:eps=64/255" not in worst[8]["attacks"]
    by_name = {r["name"]: r for r in report["results"]}
    assert worst[8]["correct"] <= min(by_name[name]["correct"] for name in worst[8]["attacks"])
    assert worst[64]["correct"] <= worst[8]["correct"] and worst[64]["ci95"][0] <= worst[64]["accuracy"]
    rows = list(csv.DictReader((output / report["per_sample"]).open()))
    assert [int(row["index"]) for row in rows] == list(range(10))
    assert sum(int(row["pgd20:steps=2"]) for row in rows) == by_name["pgd20:steps=2"]["correct"]
    assert all((row["broken by"] == "") == (row["worst case linf 64/255"] == "1") for row in rows)
    assert {row["autoattack:steps=3:queries=20 broken by"] for row in rows} <= {"", "clean", "apgd-ce", "apgd-t",
                                                                                "fab-t", "square"}
    assert report["masking"]["checks"] and isinstance(report["masking"]["suspected"], bool)
    markdown = (output / "robustness.md").read_text()
    for name in names:
        assert f"| {name} |" in markdown
    assert "Robust accuracy under every attack run" in markdown and "Gradient-masking checks" in markdown
    assert "10 iterations" in markdown  # how torchattacks' AutoAttack (autoattack-fast) differs from the original


def test_a_contrastive_pretraining_checkpoint_is_accepted_with_a_note(cl_finetuned_checkpoint: Path, data_root: str,
                                                                      tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pretrained = cl_finetuned_checkpoint.with_name("cl.ckpt")
    code, _, _ = run_cli(["evaluate", "--checkpoint", str(pretrained), "--data.root", data_root, "--batch_size", "8",
                          "--data.test_per_class", "1", "--output", str(tmp_path), "--attacks", "clean"], capsys)
    assert code == 0
    assert "online probe" in json.loads((tmp_path / "robustness.json").read_text())["checkpoint"]["note"]


def bad_inputs(checkpoint: Path, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    foreign, truncated, blocker = tmp_path / "foreign.ckpt", tmp_path / "truncated.ckpt", tmp_path / "a_file"
    foreign.write_bytes(b"not a checkpoint")
    truncated.write_bytes(checkpoint.read_bytes()[:2000])
    blocker.write_text("")
    return {
        "foreign file": (["--checkpoint", str(foreign)], "not a readable checkpoint"),
        "truncated file": (["--checkpoint", str(truncated)], "not a readable checkpoint"),
        "unknown attack": (["--attacks", "pgd99"], "unknown attack 'pgd99'"),
        "eps 8": (["--attacks", "pgd20:eps=8"], "8/255"),
        "sweep eps 8": (["--eps", "8"], "8/255"),
        "unwritable output": (["--output", str(blocker / "out")], "cannot write"),
        "unknown option": (["--colour", "red"], "unrecognized arguments"),
        "zero devices": (["--devices", "0"], "argument --devices: must be an integer >= 1; got '0'"),
        "more devices than batches": (["--devices", "4"], "devices 4 is more than the 3 test batches"),
        "autoattack without queries": (["--attacks", "autoattack:queries=0"], "queries must be an integer >= 1"),
        "iterations of autoattack-fast": (["--attacks", "autoattack-fast:steps=100"],
                                          "autoattack-fast does not take the option 'steps'"),
        "steps of fgsm": (["--attacks", "fgsm:steps=10"], "fgsm does not take the option 'steps'"),
        "options of the sweep": (["--attacks", "pgd20-sweep:steps=3"], "pgd20-sweep takes no options"),
        "device mps": (["--device", "mps"], "device must be cpu, cuda or cuda:N; got 'mps'"),
    }


@pytest.mark.parametrize("case", ["foreign file", "truncated file", "unknown attack", "eps 8", "sweep eps 8",
                                  "unwritable output", "unknown option", "zero devices", "more devices than batches",
                                  "autoattack without queries", "iterations of autoattack-fast", "steps of fgsm",
                                  "options of the sweep", "device mps"])
def test_bad_input_is_one_line_with_exit_status_2(case: str, sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    overrides, message = bad_inputs(sl_checkpoint, tmp_path)[case]
    base = {"--checkpoint": str(sl_checkpoint), "--output": str(tmp_path / "out"), "--attacks": "clean",
            "--batch_size": "8"}  # 20 test images: 3 batches
    args = ["evaluate", "--data.root", data_root]
    for option, value in base.items():
        if option not in overrides:
            args += [option, value]
    code, _, err = run_cli(args + overrides, capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
