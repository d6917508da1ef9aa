"""Under bf16 autocast the attacks still find perturbations and the adversarial terms are float32."""
import pytest
import torch

from cl_robust.callbacks import AdversarialFineTuning, AdversarialPretraining, AdversarialSupervised
from cl_robust.methods.base import Batch

from .conftest import make_module

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")


@pytest.mark.parametrize(("name", "callback"), [
    ("simclr", AdversarialPretraining(steps=2)),
    ("supcon", AdversarialPretraining(steps=2, pair=True)),
    ("supervised", AdversarialSupervised(steps=2)),
    ("finetune_full", AdversarialFineTuning(steps=2, loss="trades")),
])
def test_adversarial_step_under_bf16_autocast(name: str, callback: AdversarialSupervised, batch: Batch) -> None:
    module = make_module(name)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = callback.adversarial_losses(module, batch, module.augment(batch["x0"]))
        loss = module.training_step(batch, 0)
    assert terms["adv_loss"].dtype == torch.float32 and torch.isfinite(terms["adv_loss"])
    adversarial = callback.last_adversarial if isinstance(callback.last_adversarial, tuple) else (
        callback.last_adversarial,)
    assert all(image.dtype == torch.float32 and (image != batch["x0"]).any() for image in adversarial)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)
