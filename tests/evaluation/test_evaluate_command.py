"""``cl-robust evaluate`` from checkpoints made in the tests, and its one-line errors."""
import json
from pathlib import Path

import pytest

from cl_robust.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err.strip()


def test_evaluate_writes_json_and_markdown(cl_finetuned_checkpoint: Path, data_root: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    code, out, _ = run_cli(["evaluate", "--checkpoint", str(cl_finetuned_checkpoint), "--data.root", data_root,
                            "--batch_size", "8", "--data.test_per_class", "1", "--device", "cpu", "--output",
                            str(output), "--attacks", "clean", "fgsm", "pgd20:steps=2", "tm1:steps=2",
                            "autoattack:eps=64/255", "--wandb"], capsys)
    assert code == 0 and "robustness.json" in out
    report = json.loads((output / "robustness.json").read_text())
    names = [r["name"] for r in report["results"]]
    assert names == ["clean", "fgsm", "pgd20:steps=2", "tm1:steps=2", "autoattack:eps=64/255"]
    assert all(r["total"] == 10 and isinstance(r["correct"], int) for r in report["results"])
    assert report["checkpoint"]["metadata"]["pretrained_scheme"] == "cl" and report["dataset"]["images"] == 10
    assert {"torch", "torchattacks", "cl_robust"} <= set(report["versions"])
    pgd = report["results"][2]
    assert (pgd["norm"], pgd["steps"], pgd["step_size"], pgd["random_start"]) == ("linf", 2, 2 / 255, True)
    markdown = (output / "robustness.md").read_text()
    for name in names:
        assert f"| {name} |" in markdown
    assert "10 iterations" in markdown  # how torchattacks' AutoAttack differs from the original


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
    }


@pytest.mark.parametrize("case", ["foreign file", "truncated file", "unknown attack", "eps 8", "sweep eps 8",
                                  "unwritable output", "unknown option"])
def test_bad_input_is_one_line_with_exit_status_2(case: str, sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    overrides, message = bad_inputs(sl_checkpoint, tmp_path)[case]
    base = {"--checkpoint": str(sl_checkpoint), "--output": str(tmp_path / "out"), "--attacks": "clean"}
    args = ["evaluate", "--data.root", data_root]
    for option, value in base.items():
        if option not in overrides:
            args += [option, value]
    code, _, err = run_cli(args + overrides, capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
