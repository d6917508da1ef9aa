"""``--devices 2``: two gloo processes on the CPU give what one process gives.

``evaluate``: the same exact counts for clean, FGSM, PGD with random starts (seeded per batch and
attack) and the original AutoAttack (its chunks shared out between the ranks), the same per-image
file. ``analyze``: the same CKA matrices (sums reduced across ranks), bootstrap intervals (per-batch
terms gathered in batch order) and probes (on the gathered images). 20 test images in batches of 6
(evaluate: 6, 6, 6, 2) or 4 (analyze: five full batches), so the ranks hold unequal shares.
"""
import json
from pathlib import Path

import pytest

from cl_robust.cli import main

# PGD strong enough (32/255 in steps of 16/255) to break images of a 40-step model on any machine, so
# equal counts are not equal by doing nothing: at pgd20's eps 8/255 it broke none on one machine.
PGD = "pgd20:steps=3:eps=32/255:step=16/255"
EVALUATE = ["clean", "fgsm", PGD, "autoattack:steps=3:queries=20"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    assert exit_info.value.code in (0, None), captured.err


@pytest.mark.slow  # each --devices 2 run starts two Python processes
def test_two_ranks_count_what_one_process_counts(sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = ["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--batch_size", "6",
            "--device", "cpu", "--attacks", *EVALUATE]
    reports = {}
    for devices in (1, 2):
        output = tmp_path / str(devices)
        run([*args, "--devices", str(devices), "--output", str(output)], capsys)
        reports[devices] = json.loads((output / "robustness.json").read_text())
        reports[devices]["csv"] = (output / "per_sample.csv").read_text()
    one, two = reports[1], reports[2]
    assert two["devices"] == 2 and one["devices"] == 1
    assert [(r["name"], r["correct"], r["total"]) for r in two["results"]] == \
        [(r["name"], r["correct"], r["total"]) for r in one["results"]]
    assert all(r["total"] == 20 for r in two["results"])
    assert two["results"][3]["after_each_attack"] == one["results"][3]["after_each_attack"]
    assert two["worst_case"] == one["worst_case"] and two["csv"] == one["csv"]
    pgd = {r["name"]: r for r in one["results"]}
    assert pgd[PGD]["correct"] < pgd["clean"]["correct"]  # the attack does something here


@pytest.mark.slow
def test_two_ranks_give_the_cka_intervals_and_probes_of_one_process(sl_checkpoint: Path, data_root: str,
                                                                     tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    args = ["analyze", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--batch_size", "4",
            "--device", "cpu", "--adversarial", "8/255", "--attack_steps", "2", "--bootstrap", "50",
            "--probe_train_per_class", "4", "--baseline_bn_images", "16"]
    reports = {}
    for devices in (1, 2):
        output = tmp_path / str(devices)
        run([*args, "--devices", str(devices), "--output", str(output)], capsys)
        reports[devices] = json.loads((output / "analysis.json").read_text())
    one, two = reports[1], reports[2]
    assert one["settings"]["num_batches"] == two["settings"]["num_batches"] == 5
    for key in ("clean", "adversarial", "untrained", "probes"):
        assert two[key] == pytest.approx(one[key], abs=1e-9) if not isinstance(one[key], dict) else \
            json.dumps(two[key], sort_keys=True) == json.dumps(one[key], sort_keys=True) or _close(two[key], one[key]), key


def _close(a: object, b: object) -> bool:
    """Equal structure, numbers within 1e-9 (sums added in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9
    return a == b


@pytest.mark.parametrize(("arguments", "message"), [
    (["--devices", "0"], "analyze: argument --devices: must be an integer >= 1; got '0' (see --help)"),
    (["--devices", "6"], "devices 6 is more than the 5 test batches to share out; use fewer devices or a smaller "
                         "batch_size"),
])
def test_analyze_refuses_devices_it_cannot_use(arguments: list[str], message: str, sl_checkpoint: Path, data_root: str,
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--batch_size", "4",
              "--output", str(tmp_path), "--no_probes", *arguments])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err == f"cl-robust: error: {message}"


def test_cuda_ranks_need_plain_cuda_and_enough_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from cl_robust.commands.distributed import check_devices
    from cl_robust.errors import ConfigError

    with pytest.raises(ConfigError, match=r"devices 2: give --device cuda \(rank r uses cuda:r\), not cuda:1"):
        check_devices(2, torch.device("cuda", 1), batches=10)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="devices 2: only 1 CUDA devices are visible"):
        check_devices(2, torch.device("cuda"), batches=10)
    check_devices(1, torch.device("cuda", 1), batches=10)  # one device: nothing to share
