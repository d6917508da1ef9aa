"""The callback's gradients are exactly those of its documented loss on the adversarial batch it made.

Each case runs ``training_step`` + backward with the callback registered, then recomputes the
loss by hand from the same adversarial images (``callback.last_adversarial``) and compares
every parameter's gradient: the callback adds no hidden term, and the attack leaks no gradient.
"""
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from cl_robust.callbacks import (
    AdversarialFineTuning,
    AdversarialPretraining,
    AdversarialSupervised,
    AdversarialTraining,
)
from cl_robust.callbacks.trades import trades_kl
from cl_robust.methods.base import Batch, RobustMethod

from .conftest import fixed_views, make_module, parameter_grads

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")

ATTACK = {"eps": "8/255", "step_size": 0.01, "steps": 2, "random_start": False}


def contrastive_by_hand(module: RobustMethod, batch: Batch, callback: AdversarialPretraining) -> Tensor:
    x0, y = batch["x0"], batch["y"]
    labels = y if module.uses_labels else None
    features = module.encoder(torch.cat(fixed_views(x0)))
    z1, z2 = module.projector(features).chunk(2)
    clean = module.contrastive_loss(z1, z2, labels)
    probe = F.cross_entropy(module.classifier(features.detach()), y.repeat(2))
    pair = callback.last_adversarial if callback.pair else (x0, callback.last_adversarial)
    adversarial_features = module.encoder(torch.cat(pair))
    a1, a2 = module.projector(adversarial_features).chunk(2)
    adversarial = module.contrastive_loss(a1, a2, labels)
    return callback.clean_weight * clean + probe + callback.adv_weight * adversarial


def cross_entropy_by_hand(module: RobustMethod, batch: Batch, callback: AdversarialTraining) -> Tensor:
    x0, y = batch["x0"], batch["y"]
    clean_input = x0.flip(3) if isinstance(callback, AdversarialSupervised) and module.scheme == "sl" else x0
    clean = F.cross_entropy(module(clean_input), y)
    adversarial_logits = module(callback.last_adversarial)
    if callback.loss == "trades":
        adversarial = trades_kl(module(x0), adversarial_logits)
    else:
        adversarial = F.cross_entropy(adversarial_logits, y)
    return callback.clean_weight * clean + callback.adv_weight * adversarial


CASES: dict[str, tuple[str, Callable[[], AdversarialTraining], Callable[..., Tensor]]] = {
    "simclr single": ("simclr", lambda: AdversarialPretraining(**ATTACK), contrastive_by_hand),
    "simclr weighted": ("simclr", lambda: AdversarialPretraining(**ATTACK, adv_weight=2.0, clean_weight=0.5),
                        contrastive_by_hand),
    "supcon single": ("supcon", lambda: AdversarialPretraining(**ATTACK), contrastive_by_hand),
    "supcon pair": ("supcon", lambda: AdversarialPretraining(**ATTACK, pair=True), contrastive_by_hand),
    "simclr pair fgsm": ("simclr", lambda: AdversarialPretraining(eps=0.03, method="fgsm", pair=True,
                                                                  clean_weight=1.0), contrastive_by_hand),
    "supervised ce": ("supervised", lambda: AdversarialSupervised(**ATTACK), cross_entropy_by_hand),
    "supervised l2": ("supervised", lambda: AdversarialSupervised(eps=0.5, step_size=0.2, steps=2, norm="l2"),
                      cross_entropy_by_hand),
    "finetune linear ce": ("finetune_linear", lambda: AdversarialFineTuning(**ATTACK), cross_entropy_by_hand),
    "finetune full ce": ("finetune_full", lambda: AdversarialFineTuning(**ATTACK, adv_weight=0.5),
                         cross_entropy_by_hand),
    "finetune full trades": ("finetune_full", lambda: AdversarialFineTuning(**ATTACK, loss="trades"),
                             cross_entropy_by_hand),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_equal_the_documented_loss(case: str, batch: Batch) -> None:
    module_name, make_callback, by_hand = CASES[case]
    module, callback = make_module(module_name), make_callback()
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    module.training_step(batch, 0).backward()
    from_step = parameter_grads(module)
    assert from_step, "some parameter is trained"

    module.zero_grad(set_to_none=True)
    by_hand(module, batch, callback).backward()
    manual = parameter_grads(module)
    assert from_step.keys() == manual.keys()
    for name in manual:
        torch.testing.assert_close(from_step[name], manual[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", ["simclr single", "supcon pair", "supervised ce", "finetune full trades"])
def test_the_attack_writes_no_parameter_gradient(case: str, batch: Batch) -> None:
    module_name, make_callback, _ = CASES[case]
    module, callback = make_module(module_name), make_callback()
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    terms = callback.adversarial_losses(module, batch, module.augment(batch["x0"]))
    assert all(p.grad is None for p in module.parameters()), "crafting the attack touched .grad"
    assert set(terms) == {"adv_loss"} and terms["adv_loss"].requires_grad
    adversarial = callback.last_adversarial if isinstance(callback.last_adversarial, tuple) else (
        callback.last_adversarial,)
    for image in adversarial:
        assert not image.requires_grad and 0 <= image.min() and image.max() <= 1


def test_teardown_removes_the_term_and_restores_weights(batch: Batch) -> None:
    module = make_module("supervised")
    module.loss_weights["ce"] = 0.25
    callback = AdversarialSupervised(**ATTACK, clean_weight=2.0)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    assert module.loss_weights == {"ce": 0.5, "adv_loss": 1.0}, "clean_weight multiplies the module's own weight"
    callback.teardown(None, module, "fit")  # type: ignore[arg-type]
    assert module.loss_weights == {"ce": 0.25} and not module._loss_terms
    loss = module.training_step(batch, 0)
    torch.testing.assert_close(loss, 0.25 * F.cross_entropy(module(batch["x0"].flip(3)), batch["y"]))
