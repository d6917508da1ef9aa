"""On a briefly trained tiny model, the adversarial term is larger than the same loss on clean inputs."""
import pytest
import torch
import torch.nn.functional as F

from cl_robust.callbacks import (
    AdversarialFineTuning,
    AdversarialPretraining,
    AdversarialSupervised,
    AdversarialTraining,
    trades_kl,
)
from cl_robust.methods.base import Batch, RobustMethod

from .conftest import make_module

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")


def briefly_trained(name: str, batch: Batch, steps: int = 15) -> RobustMethod:
    module = make_module(name)
    optimizer = torch.optim.Adam(module.trainable_parameters(), lr=3e-3)
    for step in range(steps):
        optimizer.zero_grad()
        module.training_step(batch, step).backward()
        optimizer.step()
    return module


def attacked(name: str, callback: AdversarialTraining, batch: Batch) -> RobustMethod:
    """A briefly trained module on which ``callback`` has crafted one adversarial batch; left in eval mode."""
    module = briefly_trained(name, batch)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    callback.adversarial_losses(module, batch, module.augment(batch["x0"]))
    return module.eval()


@pytest.mark.parametrize(("name", "callback"), [
    ("simclr", AdversarialPretraining(eps=8 / 255, steps=3)),
    ("supcon", AdversarialPretraining(eps=8 / 255, steps=3)),
])
def test_contrastive_adversarial_loss_exceeds_clean(name: str, callback: AdversarialPretraining,
                                                    batch: Batch) -> None:
    module = attacked(name, callback, batch)
    labels = batch["y"] if module.uses_labels else None
    with torch.no_grad():
        reference = module.embed(batch["x0"])
        clean = module.contrastive_loss(reference, module.embed(batch["x0"]), labels)
        adversarial = module.contrastive_loss(reference, module.embed(callback.last_adversarial), labels)
    assert adversarial > clean + 1e-3, (float(clean), float(adversarial))


@pytest.mark.parametrize(("name", "callback"), [
    ("supervised", AdversarialSupervised(eps=8 / 255, steps=3)),
    ("finetune_full", AdversarialFineTuning(eps=8 / 255, steps=3)),
    ("finetune_linear", AdversarialFineTuning(eps=8 / 255, steps=3)),
])
def test_cross_entropy_adversarial_loss_exceeds_clean(name: str, callback: AdversarialSupervised,
                                                      batch: Batch) -> None:
    module = attacked(name, callback, batch)
    with torch.no_grad():
        clean_logits, adversarial_logits = module(batch["x0"]), module(callback.last_adversarial)
    clean, adversarial = F.cross_entropy(clean_logits, batch["y"]), F.cross_entropy(adversarial_logits, batch["y"])
    assert adversarial > clean + 1e-3, (float(clean), float(adversarial))
    assert (adversarial_logits.argmax(1) == batch["y"]).sum() <= (clean_logits.argmax(1) == batch["y"]).sum()
    assert (callback.last_adversarial - batch["x0"]).abs().max() <= 8 / 255 + 1e-6


def test_trades_attack_beats_random_noise_on_the_kl(batch: Batch) -> None:
    """TRADES's term KL(f(x) || f(x_adv)) is far larger at its attack than at random points of the ball."""
    callback = AdversarialFineTuning(eps=8 / 255, steps=5, step_size=2 / 255, loss="trades")
    module = attacked("finetune_full", callback, batch)
    noise = (batch["x0"] + torch.empty_like(batch["x0"]).uniform_(-8 / 255, 8 / 255)).clamp(0, 1)
    with torch.no_grad():
        clean_logits = module(batch["x0"])
        adversarial = trades_kl(clean_logits, module(callback.last_adversarial))
        random = trades_kl(clean_logits, module(noise))
    assert adversarial > 2 * random, (float(random), float(adversarial))
