"""``cl-robust analyze`` from checkpoints made in the tests, and its one-line errors."""
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from cl_robust.cli import main


@pytest.fixture(scope="session")
def trained(build_once: Callable, tiny_checkpoints: ModuleType) -> tuple[str, Path, Path]:
    """The evaluation tests' tiny data and checkpoints (trained once per test run)."""
    tiny = tiny_checkpoints
    return (tiny.shared_data(build_once), tiny.shared_supervised_checkpoint(build_once),
            tiny.shared_contrastive_finetuned_checkpoint(build_once))


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0), capsys.readouterr().err.strip()


def test_analyze_writes_matrices_scores_probes_and_figures(trained: tuple[str, Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root, sl, cl = trained
    code, err = run_cli(["analyze", "--checkpoint", str(cl), "--compare", str(sl), "--data.root", root,
                         "--batch_size", "8", "--attack_steps", "2", "--probe_train_per_class", "8",
                         "--adversarial", "8/255", "--output", str(tmp_path), "--wandb"], capsys)
    assert code == 0
    # Progress of the feature and attack passes: images done of all (2 full batches of 8), the passes, time left.
    assert "analyze: 100%" in err and "16/16" in err and "PGD eps=8/255 (2 steps)" in err and "compare" in err
    report = json.loads((tmp_path / "analysis.json").read_text())
    layers = report["layers"]
    assert layers[0] == "encoder.layer1.0" and layers[-1] == "classifier"
    assert report["settings"]["num_batches"] == 2  # 20 test images: two full batches of 8, the last 4 left out
    clean = report["clean"]["cka"]
    assert len(clean) == len(layers) and all(abs(clean[i][i] - 1) < 1e-6 for i in range(len(layers)))
    assert set(report["clean"]["redundancy"]) >= {"mean_offdiagonal", "largest_block"}
    interval = report["clean"]["interval"]
    assert interval["batches"] == 2 and interval["resamples"] == 1000
    low, high = interval["mean_all"]
    assert low <= report["clean"]["redundancy"]["mean_all"] + 1e-9 and high >= low
    untrained = report["untrained"]
    assert untrained["seed"] == 0 and untrained["inputs"] == "clean"
    for name in ("init_bn", "reestimated_bn"):
        assert len(untrained[name]["cka"]) == len(layers)
        change = untrained[name]["change"]
        assert change["mean_all"] == pytest.approx(report["clean"]["redundancy"]["mean_all"]
                                                   - untrained[name]["redundancy"]["mean_all"])
    assert untrained["init_bn"]["cka"] != untrained["reestimated_bn"]["cka"]
    assert report["settings"]["order_seed"] == 0
    adversarial = report["adversarial"]["eps=8/255"]
    assert len(adversarial["cka"]) == len(layers) and len(adversarial["clean_vs_adversarial"]) == len(layers)
    assert len(report["compare"]["cka_between"]) == len(layers)
    probes = report["probes"]["layers"]
    assert [p["layer"] for p in probes] == layers and all("adversarial" in p for p in probes)
    for name in report["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert {"cka_layers.png", "cka_clean_vs_adversarial.png", "cka_between_models.png", "probes.png"} <= set(
        report["figures"])


def test_all_layers_without_probes_attacks_or_figures(trained: tuple[str, Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root, sl, _ = trained
    code, _ = run_cli(["analyze", "--checkpoint", str(sl), "--data.root", root, "--batch_size", "8", "--layers",
                       "all", "--no_probes", "--adversarial", "none", "--num_batches", "1", "--precision", "bf16",
                       "--no_figures", "--output", str(tmp_path)], capsys)
    assert code == 0
    report = json.loads((tmp_path / "analysis.json").read_text())
    assert report["settings"]["feature_precision"] == "bf16"
    clean = report["clean"]["cka"]
    assert all(abs(clean[i][i] - 1) < 1e-6 for i in range(len(clean)))  # features back in float32 for the Grams
    assert "encoder.layer1.0.relu#1" in report["layers"]  # a ReLU applied twice per block: both calls
    assert not any(name.startswith(("train_accuracy", "augment")) for name in report["layers"])
    assert report["adversarial"] == {} and "probes" not in report
    assert report["figures"] == [] and not list(tmp_path.glob("*.png"))  # --no_figures: analysis.json only


@pytest.mark.parametrize(("overrides", "message"), [
    (["--layers", "encoder.layer9"], "unknown module 'encoder.layer9'"),
    (["--batch_size", "3"], "batch_size must be >= 4"),
    (["--adversarial", "8"], "8/255"),
    (["--precision", "16"], "argument --precision: invalid choice: '16'"),
    (["--output", "{blocker}/out"], "cannot write"),
    (["--checkpoint", "{foreign}"], "not a readable checkpoint"),
    (["--bootstrap", "-1"], "bootstrap must be an integer >= 0"),
    (["--baseline_bn_images", "0"], "baseline_bn_images must be an integer >= 1"),
    (["--order_seed", "-1"], "argument --order_seed: must be an integer >= 0 or none"),
    (["--threshold", "2"], "threshold must be a number in [0, 1] (CKA lies in [0, 1]); got 2"),
    (["--threshold", "-0.1"], "threshold must be a number in [0, 1]"),
    (["--device", "mps"], "device must be cpu, cuda or cuda:N; got 'mps'"),
    (["--device", "tpu"], "device must be cpu, cuda or cuda:N; got 'tpu'"),
    (["--probe_train_per_class", "0"], "probe_train_per_class must be an integer >= 1"),
])
def test_bad_input_is_one_line_with_exit_status_2(overrides: list[str], message: str,
                                                  trained: tuple[str, Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, sl, _ = trained
    (tmp_path / "blocker").write_text("")
    (tmp_path / "foreign").write_bytes(b"\x00not torch")
    values = {"--checkpoint": str(sl), "--output": str(tmp_path / "out")}
    overrides = [o.format(blocker=tmp_path / "blocker", foreign=tmp_path / "foreign") for o in overrides]
    args = ["analyze", "--data.root", root, "--no_probes", "--adversarial", "none"]
    for option, value in values.items():
        if option not in overrides:
            args += [option, value]
    code, err = run_cli(args + overrides, capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
