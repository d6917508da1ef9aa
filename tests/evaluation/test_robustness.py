"""Exact counting, theory-ordered robust accuracies, eval mode, threat model I and the cross-rank sum."""
from pathlib import Path

import pytest
import torch

from cl_robust.commands.checkpoint import load_classifier
from cl_robust.data.augment import to_float
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.evaluation.robustness import evaluate_robustness, reduce_counts
from cl_robust.evaluation.suite import parse_attacks


def split_loader(root: str, batch_size: int = 8) -> list:
    """The 20 test images in batches of 8, 8 and 4 (not a multiple of the batch size)."""
    datamodule = CIFARDataModule("cifar10", root=root, batch_size=1, eval_batch_size=batch_size)
    datamodule.setup()
    return list(datamodule.test_dataloader())


def by_name(outcome: dict) -> dict:
    return {record["name"]: record for record in outcome["results"]}


def test_accuracy_counts_every_image_including_the_last_partial_batch(sl_checkpoint: Path, data_root: str) -> None:
    model = load_classifier(sl_checkpoint).model
    batches = split_loader(data_root)
    assert [len(labels) for _, labels in batches] == [8, 8, 4]
    images = torch.cat([to_float(x) for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    with torch.no_grad():
        by_hand = int((model(images).argmax(dim=1) == labels).sum())
    (clean,) = evaluate_robustness(model, batches, ["clean"])["results"]
    assert (clean["correct"], clean["total"]) == (by_hand, 20)
    assert isinstance(clean["correct"], int) and clean["accuracy"] == by_hand / 20


def test_counts_of_two_halves_sum_to_the_whole(sl_checkpoint: Path, data_root: str) -> None:
    """What all_reduce does under DDP, with a 2-way split faked by adding the other rank's counts."""
    model = load_classifier(sl_checkpoint).model
    batches = split_loader(data_root)
    attacks = parse_attacks(["clean", "fgsm:eps=16/255", "pgd20:eps=16/255:steps=3:random_start=false"])
    whole = evaluate_robustness(model, batches, attacks)
    second = evaluate_robustness(model, batches[2:], attacks)
    second_counts = torch.tensor([[r["correct"], r["total"]] for r in second["results"]])
    merged = evaluate_robustness(model, batches[:2], attacks, reduce=lambda counts: counts + second_counts)
    assert [(r["correct"], r["total"]) for r in merged["results"]] == [(r["correct"], r["total"]) for r in whole["results"]]
    assert torch.equal(reduce_counts(second_counts), second_counts)  # no process group: unchanged


def test_robust_accuracies_are_ordered_as_theory_demands(sl_checkpoint: Path, data_root: str) -> None:
    model = load_classifier(sl_checkpoint).model
    batches = split_loader(data_root)
    names = ["clean", "fgsm:eps=16/255", "pgd20:eps=16/255"] + [
        f"pgd20:eps=16/255:step=2/255:random_start=false:steps={k}" for k in (1, 5, 20)]
    results = by_name(evaluate_robustness(model, batches, names))
    clean = results["clean"]["correct"]
    assert clean >= results["fgsm:eps=16/255"]["correct"] and clean >= results["pgd20:eps=16/255"]["correct"]
    by_steps = [results[f"pgd20:eps=16/255:step=2/255:random_start=false:steps={k}"]["correct"] for k in (1, 5, 20)]
    assert by_steps == sorted(by_steps, reverse=True), by_steps
    assert by_steps[-1] < clean  # the attack does something at this eps


def test_autoattack_is_at_least_as_strong_as_pgd(sl_checkpoint: Path, data_root: str) -> None:
    """AutoAttack starts with APGD-CE and only adds attacks, so it should break every point PGD breaks.

    Neither attack is exact: a point PGD breaks may in principle survive AutoAttack, so one image of
    slack is allowed. Four images and a large eps keep the original AutoAttack's CPU time small
    (points broken by APGD-CE are not attacked again).
    """
    model = load_classifier(sl_checkpoint).model
    images, labels = split_loader(data_root)[0]
    batch = [(images[:4], labels[:4])]
    results = by_name(evaluate_robustness(model, batch, ["pgd20:eps=32/255", "autoattack:eps=32/255"]))
    assert results["autoattack:eps=32/255"]["correct"] <= results["pgd20:eps=32/255"]["correct"] + 1


def test_model_stays_in_eval_mode_and_batchnorm_statistics_do_not_move(sl_checkpoint: Path, data_root: str) -> None:
    model = load_classifier(sl_checkpoint).model
    model.train()
    running_means = {name: b.clone() for name, b in model.named_buffers() if name.endswith("running_mean")}
    seen_modes = []
    model.encoder.register_forward_pre_hook(lambda module, _: seen_modes.append(module.training))
    evaluate_robustness(model, split_loader(data_root)[:1], ["clean", "pgd20:steps=2"])
    assert seen_modes and not any(seen_modes)
    assert model.training and all(m.training for m in model.modules())  # caller's modes are back
    for name, buffer in model.named_buffers():
        if name in running_means:
            assert torch.equal(buffer, running_means[name]), name


def test_threat_model_one_runs_on_a_contrastive_checkpoint_and_is_skipped_for_sl(
        cl_finetuned_checkpoint: Path, sl_checkpoint: Path, data_root: str) -> None:
    batches = split_loader(data_root)[:1]
    attacks = ["clean", "tm1:steps=3:eps=16/255"]
    contrastive = by_name(evaluate_robustness(load_classifier(cl_finetuned_checkpoint).model, batches, attacks))
    tm1 = contrastive["tm1:steps=3:eps=16/255"]
    assert tm1["skipped"] is None and tm1["threat_model"] == "TM-I" and tm1["total"] == 8
    supervised = by_name(evaluate_robustness(load_classifier(sl_checkpoint).model, batches, attacks))
    assert "cl or scl" in supervised["tm1:steps=3:eps=16/255"]["skipped"]
    assert supervised["clean"]["total"] == 8


@pytest.mark.parametrize("inference_mode", [True, False])
def test_works_inside_inference_mode(sl_checkpoint: Path, data_root: str, inference_mode: bool) -> None:
    """Lightning's test loop runs under inference mode; the attacks turn gradients back on."""
    model = load_classifier(sl_checkpoint).model
    with torch.inference_mode(inference_mode):
        (record,) = evaluate_robustness(model, split_loader(data_root)[:1], ["pgd20:steps=2"])["results"]
    assert record["total"] == 8
