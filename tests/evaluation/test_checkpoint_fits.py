"""A checkpoint is refused, before any attack, by ``evaluate`` and ``analyze`` when the data is not what it was trained for."""
from pathlib import Path

import pytest

from cl_robust.cli import main
from cl_robust.commands.checkpoint import check_fits, load_classifier
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError


@pytest.fixture(scope="module")
def cifar100_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_cifar(str(tmp_path_factory.mktemp("c100")), "cifar100", train_per_class=1,
                                 test_per_class=1, layout="torchvision")


@pytest.mark.parametrize("command", [
    ["evaluate", "--attacks", "clean"],
    ["evaluate", "--attacks", "pgd20:steps=1"],
    ["analyze", "--no_probes", "--no_baseline", "--adversarial", "8/255", "--batch_size", "8"],
])
def test_cifar10_checkpoint_on_cifar100_is_one_line(command: list[str], sl_checkpoint: Path, cifar100_root: str,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--checkpoint", str(sl_checkpoint), "--data.dataset", "cifar100", "--data.root",
              cifar100_root, "--device", "cpu", "--output", str(output)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert "is a 10-class classifier (trained on cifar10) but --data.dataset cifar100 has 100 classes" in err[0]
    assert "--data.dataset cifar10" in err[0]
    assert not any(output.glob("*.json"))  # nothing computed


def test_recorded_data_set_must_match(sl_checkpoint: Path) -> None:
    loaded = load_classifier(sl_checkpoint)
    assert loaded.dataset == "cifar10"
    check_fits(loaded, "cifar10", 10)
    with pytest.raises(ConfigError, match="was trained on cifar10, not cifar100; pass --data.dataset cifar10"):
        check_fits(loaded, "cifar100", 10)
    with pytest.raises(ConfigError, match="compare: .* is a 10-class classifier"):
        check_fits(loaded, "cifar100", 100, option="compare")
