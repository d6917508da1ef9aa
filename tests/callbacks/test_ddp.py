"""Under DDP (two CPU processes, gloo) the loss term gets the LightningModule, not the wrapper, and
the adversarial gradients are all-reduced like any other: both ranks end with the same weights."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cl_robust.data.synthetic import write_synthetic_cifar

SCRIPT = Path(__file__).with_name("ddp_fit.py")


@pytest.mark.slow
def test_adversarial_pretraining_under_ddp(tmp_path: Path) -> None:
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", train_per_class=2, test_per_class=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, str(SCRIPT), root, str(tmp_path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [(tmp_path / f"rank{rank}.txt").read_text().split() for rank in (0, 1)]
    assert [seen for seen, _, _ in ranks] == ["SupCon", "SupCon"], "the term attacked the module, not the wrapper"
    assert ranks[0][1] == ranks[1][1], "same weights on both ranks after adversarial steps"
    assert all(float(adv_loss) > 0 for _, _, adv_loss in ranks)
