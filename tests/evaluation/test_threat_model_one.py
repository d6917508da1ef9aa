"""Threat model I attacks: its objective rises over the steps and it lowers a trained cl model's accuracy."""
from pathlib import Path

import pytest

from cl_robust.commands.checkpoint import load_classifier
from cl_robust.data import CIFARDataModule
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.evaluation.robustness import evaluate_robustness

STEPS = (1, 5, 20)


@pytest.fixture(scope="module")
def results(cl_finetuned_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = write_synthetic_cifar(str(tmp_path_factory.mktemp("tm1")), "cifar10", train_per_class=4,
                                 test_per_class=10, layout="torchvision")
    data = CIFARDataModule(root=root, batch_size=8, eval_batch_size=50)  # seeded random batches: all classes
    data.setup("test")
    loaded = load_classifier(cl_finetuned_checkpoint)
    attacks = ["clean", *[f"tm1:eps=16/255:step=4/255:steps={k}" for k in STEPS]]
    outcome = evaluate_robustness(loaded.model, data.test_dataloader(), attacks, metadata=loaded.metadata)
    return {r["name"]: r for r in outcome["results"]}


def test_the_objective_rises_with_the_steps(results: dict[str, dict]) -> None:
    attacked = [results[f"tm1:eps=16/255:step=4/255:steps={k}"] for k in STEPS]
    before = {r["objective_before"] for r in attacked}
    assert len(before) == 1  # the clean objective does not depend on the attack
    after = [r["objective_after"] for r in attacked]
    assert before.pop() < after[0] < after[1] < after[2], after
    assert all(r["batch_size"] == 50 for r in attacked)


def test_threat_model_one_lowers_accuracy_below_clean(results: dict[str, dict]) -> None:
    clean = results["clean"]["accuracy"]
    strongest = results[f"tm1:eps=16/255:step=4/255:steps={STEPS[-1]}"]["accuracy"]
    assert clean > 0.5 and strongest < clean - 0.2, (clean, strongest)
