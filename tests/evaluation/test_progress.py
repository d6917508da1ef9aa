"""``cl-robust evaluate`` shows its progress and, before a long suite on a CPU, how long it will take."""
from pathlib import Path

import pytest

from cl_robust.cli import main
from cl_robust.evaluation.estimate import estimate_line, estimate_seconds, passes_per_image
from cl_robust.evaluation.suite import parse_attacks


def test_evaluate_shows_images_accuracy_and_time_left_per_attack(cl_finetuned_checkpoint: Path, data_root: str,
                                                                 tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--checkpoint", str(cl_finetuned_checkpoint), "--data.root", data_root, "--batch_size", "8",
              "--data.test_per_class", "1", "--device", "cpu", "--output", str(tmp_path / "out"),
              "--attacks", "clean", "pgd20:steps=2", "autoattack:steps=2:queries=10"])
    err = capsys.readouterr().err
    assert exit_info.value.code in (0, None)
    assert "evaluate: 100%" in err and "10/10" in err  # the batch-wise attacks: images done of all
    assert "clean " in err and "pgd20:steps=2 " in err and "%" in err  # each attack's accuracy so far
    assert "autoattack apgd-ce" in err and "robust " in err  # a bar per attack of AutoAttack's ensemble
    assert "<00:00" in err  # tqdm's time left


def test_estimate_counts_iterations_and_says_how_to_shrink() -> None:
    default = parse_attacks(["clean", "fgsm", "pgd20", "pgd100", "autoattack"])
    assert passes_per_image(default[2]) == pytest.approx(20 + 1 / 3)
    batchwise, original = estimate_seconds(default, images=200, per_pass=0.001)
    assert batchwise == pytest.approx((1 / 3 + 4 / 3 + 61 / 3 + 301 / 3) * 200 * 0.001)
    assert original > 10 * batchwise  # AutoAttack's upper bound dominates
    line = estimate_line(default, 200, 0.001, "cpu")
    assert line is not None and "--attacks" in line and "--data.test_per_class" in line and "AutoAttack" in line
    assert estimate_line(parse_attacks(["clean"]), 10, 0.001, "cpu") is None  # short suites print nothing


def test_the_estimate_follows_the_options_set() -> None:
    suite = parse_attacks(["clean", "fgsm", "pgd20", "pgd100", "autoattack"])
    everything, original = estimate_seconds(suite, images=200, per_pass=0.001)
    # AutoAttack attacks only the images classified correctly: a 10%-accurate model costs a tenth of the bound.
    assert estimate_seconds(suite, 200, 0.001, clean_accuracy=0.1) == pytest.approx((everything, original / 10))
    line = estimate_line(suite, 200, 0.001, "cpu", clean_accuracy=0.1, test_per_class=10)
    assert line is not None and "10% of the timed batch" in line
    assert "--data.test_per_class 5 instead of 10" in line and "--data.test_per_class 10)" not in line
    assert "--attacks clean pgd20" in line
    short = estimate_line(parse_attacks(["clean", "pgd20"]), 20_000, 0.001, "cpu", test_per_class=1)
    assert short is not None and "to shrink it" not in short  # nothing smaller to advise
    assert "--attacks" not in estimate_line(parse_attacks(["clean", "pgd20"]), 20_000, 0.001, "cpu")


def test_long_suite_on_cpu_prints_one_estimate_line(sl_checkpoint: Path, data_root: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import cl_robust.evaluation.command as command

    monkeypatch.setattr(command, "seconds_per_pass", lambda *args: 10.0)  # a slow machine
    monkeypatch.setattr(command, "_evaluate", lambda *args, **kwargs: None)  # stop after the estimate
    output = tmp_path / "out"
    output.mkdir()
    (output / "robustness.md").write_text("")
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--device", "cpu",
              "--output", str(output)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cl-robust: evaluate: about")]
    assert len(lines) == 1 and "plus up to" in lines[0] and "--data.test_per_class" in lines[0]
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(sl_checkpoint), "--data.root", data_root, "--device", "cpu",
              "--output", str(output), "--data.test_per_class", "2"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cl-robust: evaluate: about")]
    assert len(lines) == 1 and "for 20 images" in lines[0], lines
    assert "(--data.test_per_class 1 instead of 2)" in lines[0] and "--data.test_per_class 10" not in lines[0]
