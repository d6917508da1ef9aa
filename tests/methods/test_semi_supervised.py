"""Semi-supervised mixes (cl+scl, cl+sl, scl+sl): the labels of unlabelled images reach no loss and no
gradient, labelled ones do, and at labeled_fraction=1 cl+scl is NT-Xent + SupCon on the whole batch."""
import re
from pathlib import Path

import pytest
import torch
from lightly.loss import NTXentLoss

from cl_robust.errors import ConfigError
from cl_robust.evaluation.threat_models import contrastive_loss_for
from cl_robust.losses import SupConLoss
from cl_robust.methods import SCHEMES, FineTune, SemiSupervisedMix

from .mix_cases import MIXES, VARIANTS, full_batch, losses_and_gradients, make_mix
from .test_finetune import save_pretrained

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")

EXPECTED_TERMS = {"cl+scl": {"nt_xent", "supcon", "probe_ce"}, "cl+sl": {"nt_xent", "ce"},
                  "scl+sl": {"supcon", "ce"}}


def assert_identical(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name, (loss, grads) in first.items():
        assert torch.equal(loss, second[name][0]), name
        assert all(torch.equal(a, b) for a, b in zip(grads, second[name][1], strict=True)), name


@pytest.mark.parametrize("mix", MIXES)
def test_unlabelled_labels_change_no_loss_and_no_gradient(mix: str) -> None:
    results = {variant: losses_and_gradients(make_mix(mix).train(), full_batch(variant)) for variant in VARIANTS}
    assert set(results["true"]) == EXPECTED_TERMS[mix] | {"adv_loss"}
    for variant in ("random", "minus_one"):
        assert_identical(results["true"], results[variant])


@pytest.mark.parametrize("mix", MIXES)
def test_labels_of_labelled_images_do_matter(mix: str) -> None:
    """The check above has teeth: relabelling one labelled image changes the labelled terms."""
    batch = full_batch()
    changed = {**batch, "y": batch["y"].clone()}
    changed["y"][0] = (changed["y"][0] + 1) % 3
    before = losses_and_gradients(make_mix(mix), batch, adversarial=False)
    after = losses_and_gradients(make_mix(mix), changed, adversarial=False)
    labelled_terms = {"supcon", "ce", "probe_ce"} & set(before)
    assert labelled_terms and all(not torch.equal(before[t][0], after[t][0]) for t in labelled_terms)
    if "nt_xent" in before:
        assert torch.equal(before["nt_xent"][0], after["nt_xent"][0])


def test_at_fraction_one_cl_plus_scl_is_ntxent_plus_supcon_on_the_whole_batch() -> None:
    module = make_mix("cl+scl", labeled_fraction=1.0).train()
    batch = {**full_batch(), "labeled": torch.ones(12, dtype=torch.bool)}
    losses = module.training_losses(batch, module.augment(batch["x0"]))
    reference = make_mix("cl+scl", labeled_fraction=1.0).train()
    features = reference.encoder(torch.cat(reference.augment(batch["x0"])))
    z1, z2 = reference.projector(features).chunk(2)
    torch.testing.assert_close(losses["nt_xent"], NTXentLoss(temperature=0.5)(z1, z2))
    torch.testing.assert_close(losses["supcon"], SupConLoss(0.5)(z1, z2, batch["y"]))
    step = module.training_step(batch, 0)
    torch.testing.assert_close(step, losses["nt_xent"] + losses["supcon"] + losses["probe_ce"])


def test_scl_plus_sl_ignores_the_unlabelled_images() -> None:
    """With BatchNorm in eval mode nothing couples the images: new pixels for the unlabelled ones change nothing."""
    batch = full_batch()
    noisy = {**batch, "x0": torch.where(batch["labeled"][:, None, None, None], batch["x0"], torch.rand(12, 3, 8, 8))}
    module = make_mix("scl+sl").eval()
    clean = module.training_losses(batch, module.augment(batch["x0"]))
    other = module.training_losses(noisy, module.augment(noisy["x0"]))
    for name in ("supcon", "ce"):
        torch.testing.assert_close(clean[name], other[name], rtol=1e-6, atol=1e-7)
    cl_sl = make_mix("cl+sl").eval()
    assert not torch.allclose(cl_sl.training_losses(batch, cl_sl.augment(batch["x0"]))["nt_xent"],
                              cl_sl.training_losses(noisy, cl_sl.augment(noisy["x0"]))["nt_xent"])


def test_loss_weights_scale_their_terms() -> None:
    batch = full_batch()
    module = make_mix("cl+sl", loss_weights={"ce": 0.25, "nt_xent": 2.0}).train()
    losses = module.training_losses(batch, module.augment(batch["x0"]))
    torch.testing.assert_close(module.training_step(batch, 0), 2.0 * losses["nt_xent"] + 0.25 * losses["ce"])


@pytest.mark.parametrize(("options", "needle"), [
    ({"mix": "cl"}, re.escape("mix must be one of 'cl+scl', 'cl+sl', 'scl+sl'")),
    ({"mix": "cl+cl"}, "cl leaves no labels to mix"),
    ({"mix": "sl+cl"}, re.escape("got 'sl+cl'")),
    ({"labeled_fraction": 0}, r"labeled_fraction must be a number in \(0, 1\]"),
    ({"labeled_fraction": 1.5}, r"labeled_fraction must be a number in \(0, 1\]"),
    ({"mix": "scl+sl", "loss_weights": {"nt_xent": 1.0}}, "scl\\+sl has no term 'nt_xent'"),
    ({"mix": "cl+sl", "loss_weights": {"ce": -1}}, "ce must be a number >= 0"),
    ({"mix": "cl+sl", "loss_weights": {"ce": 0, "nt_xent": 0}}, "is weighted 0"),
])
def test_bad_options_give_one_line(options: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        SemiSupervisedMix(backbone="resnet_tiny", **options)


def test_a_batch_without_a_labelled_mask_is_refused() -> None:
    module = make_mix("cl+scl")
    batch = {key: value for key, value in full_batch().items() if key != "labeled"}
    with pytest.raises(ConfigError, match="labelled mask"):
        module.training_step(batch, 0)


@pytest.mark.parametrize("mix", MIXES)
def test_checkpoints_fine_tune_and_name_their_contrastive_loss(mix: str, tmp_path: Path) -> None:
    module = make_mix(mix, labeled_fraction=0.25)
    save_pretrained(module, tmp_path / "mix.ckpt")
    metadata = torch.load(tmp_path / "mix.ckpt", weights_only=False)["cl_robust"]
    assert metadata["scheme"] == mix and metadata["labeled_fraction"] == 0.25 and SCHEMES[mix] is SemiSupervisedMix
    rebuilt = SemiSupervisedMix.load_from_checkpoint(tmp_path / "mix.ckpt")
    assert rebuilt.scheme == mix and rebuilt.hparams.labeled_fraction == 0.25
    finetune = FineTune(pretrained_checkpoint=str(tmp_path / "mix.ckpt"), expected_scheme=mix, mode="full")
    assert finetune.projector is not None
    loss_fn, uses_labels = contrastive_loss_for(finetune.checkpoint_metadata())
    assert uses_labels == ("scl" in mix.split("+"))
    z1, z2, y = torch.randn(6, 8), torch.randn(6, 8), torch.randint(0, 3, (6,))
    expected = 0.0
    if "cl" in mix.split("+"):
        expected = expected + NTXentLoss(temperature=0.5)(z1, z2)
    if uses_labels:
        expected = expected + SupConLoss(0.5)(z1, z2, y)
    torch.testing.assert_close(loss_fn(z1, z2, y), expected)
