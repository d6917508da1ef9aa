"""Each benchmark's quick mode runs and ends with its ratio line.

The scripts run as their own processes forked from the worker's warm server (tests/warm_process.py),
as ``python benchmarks/<name>.py`` would, without a fresh interpreter's imports each time."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ..warm_process import WarmServer

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(warm_server: WarmServer, name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python benchmarks/<name>.py arguments`` in its own (warm-forked) process."""
    return warm_server.run(arguments, cwd=BENCHMARKS.parent, env=dict(os.environ), timeout=240,
                           script=BENCHMARKS / f"{name}.py")


def run_quick(warm_server: WarmServer, name: str, *extra: str) -> list[str]:
    done = run_script(warm_server, name, "--quick", *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize(("name", "target"), [("augment", "5"), ("adversarial_step", "1.15"), ("cka", "5"), ("gpu", "2"),
                                             ("evaluate", "1.05"), ("bf16_training", "1"),
                                             ("corruptions", "1")])
def test_quick_mode_prints_ratio_line(name: str, target: str, warm_server: WarmServer) -> None:
    lines = run_quick(warm_server, name)
    assert re.fullmatch(rf"{name} ratio: \d+\.\d{{2}} \(target {re.escape(target)}\)", lines[-1]), lines[-1]
    if name == "adversarial_step":
        difference = next(line for line in lines if line.startswith("max |parameter difference|"))
        assert float(difference.rsplit(" ", 1)[1]) < 1e-6  # ours and the plain loop do the same computation
    if name == "gpu":
        assert any(line.startswith("resnet_tiny pgd10") for line in lines)
    if name == "cka":
        assert any(line.startswith("max |ours bf16 - ours float32|") for line in lines)
        assert any(line.startswith("torch_cka") for line in lines)
        compared = next(line for line in lines if line.startswith("max |ours - torch_cka| over the CKA matrix: "))
        assert float(compared.rsplit(": ", 1)[1].split()[0]) < 0.05  # tiny model, 64 images: the same minibatch CKA
    if name == "evaluate":  # our PGD and AutoAttack leave the images torchattacks' and pyautoattack's leave
        assert [kind for kind in ("pgd", "autoattack") if any(line.startswith(f"{kind}: ") and
                                                              "the same images: yes" in line for line in lines)] == [
            "pgd", "autoattack"], lines


@pytest.mark.parametrize("name", ["evaluate", "cka"])
def test_quick_mode_runs_on_a_model_cl_robust_did_not_define(name: str, warm_server: WarmServer) -> None:
    """The comparisons of a foreign model (README, "Your own model"): torchvision's ResNet-18."""
    lines = run_quick(warm_server, name, "--model", "torchvision:resnet18")
    assert lines[0].startswith("torchvision:resnet18 (foreign)") and re.fullmatch(rf"{name} ratio: .*", lines[-1])
    if name == "evaluate":
        assert sum("the same images: yes" in line for line in lines) == 2, lines


def test_cka_precision_quick_mode_reports_the_bf16_difference(warm_server: WarmServer) -> None:
    last = run_quick(warm_server, "cka_precision")[-1]
    match = re.fullmatch(r"cka_precision max difference: (\S+) \(tolerance 0.001\)", last)
    assert match, last
    assert 0 < float(match.group(1)) < 0.05  # bf16 moves CKA a little, never by much


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("augment", ["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got 0"),
        ("augment", ["--workers", "-1"], "argument --workers: expected an integer >= 0, got -1"),
        ("augment", ["--images", "10", "--batch-size", "20"], "--images (10) must be at least --batch-size (20)"),
        ("cka", ["--threads", "two"], "argument --threads: expected an integer >= 1, got 'two'"),
        ("cka", ["--batch-size", "2"], "argument --batch-size: expected an integer >= 4, got 2"),
        ("cka_precision", ["--steps", "-1"], "argument --steps: expected an integer >= 0, got -1"),
        ("cka_precision", ["--images", "8", "--cka-batch-size", "16"],
         "--images (8) must be at least --cka-batch-size (16)"),
        ("adversarial_step", ["--steps", "0"], "argument --steps: expected an integer >= 1, got 0"),
        ("gpu", ["--steps", "0"], "argument --steps: expected an integer >= 1, got 0"),
        ("evaluate", ["--images", "0"], "argument --images: expected an integer >= 1, got 0"),
        ("bf16_training", ["--width", "6"], "--width must be a multiple of 4, got 6"),
        ("corruptions", ["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got 0"),
    ],
)
def test_bad_options_stop_with_one_line_naming_the_option(name: str, arguments: list[str], message: str,
                                                          warm_server: WarmServer) -> None:
    done = run_script(warm_server, name, *arguments)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].endswith(message), done.stderr
