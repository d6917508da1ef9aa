"""Per-layer linear probes (Alain & Bengio 2016, "Understanding intermediate layers using linear
classifier probes"): how linearly decodable the labels are at each layer, on clean and on
adversarial inputs.

Features of a layer are its output, global-average-pooled over space for conv maps
([N, C, H, W] -> [N, C]) and flattened otherwise. A softmax-regression probe is fitted on
cached, standardised features of a training subset with full-batch L-BFGS and a small L2
penalty (cheap: one fit per layer, no data passes).

Adversarial accuracy: the test images are attacked once, end to end, by cross-entropy PGD
on the model's own classifier (Madry et al. 2018; threat model II); each layer's probe then
reads that layer's features of those images. This measures how much of the label information
at each layer an attack on the whole network destroys, the same adversarial inputs for every
layer; attacking each probe separately would give a different, layer-specific threat model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cl_robust.analysis.layer_selection import recorder_for
from cl_robust.errors import ConfigError


def pool_features(output: Tensor) -> Tensor:
    """[N, C, H, W] -> [N, C] by global average pooling; any other shape is flattened to [N, D]."""
    if output.dim() == 4:
        return output.mean(dim=(2, 3))
    return output.flatten(1)


def pooled_layer_features(model: nn.Module, layer_names: Sequence[str], images: Tensor,
                          batch_size: int = 256, selection: str = "names") -> list[Tensor]:
    """Pooled features [N, D_l] of each named layer of ``model`` for ``images``, on the CPU, float32.

    ``selection`` ``reference`` records the layers as torch_cka does (see ``recorder_for``).
    """
    parts: list[list[Tensor]] = [[] for _ in layer_names]
    device = next(model.parameters()).device
    with recorder_for(model, list(layer_names), selection) as recorder, torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            model(images[start:start + batch_size].to(device))
            for part, output in zip(parts, recorder.features(), strict=True):
                part.append(pool_features(output).float().cpu())
    return [torch.cat(part) for part in parts]


@dataclass
class LinearProbe:
    """A linear classifier on standardised features: ``logits = ((x - mean) / std) W^T + b``."""

    mean: Tensor
    std: Tensor
    weight: Tensor
    bias: Tensor

    def logits(self, features: Tensor) -> Tensor:
        return ((features.float() - self.mean) / self.std) @ self.weight.T + self.bias

    def accuracy(self, features: Tensor, labels: Tensor) -> float:
        """Fraction of ``features`` whose arg-max logit is the label."""
        if labels.numel() == 0:
            raise ConfigError("probe accuracy needs at least one test example")
        return (self.logits(features).argmax(dim=1) == labels).float().mean().item()


def fit_linear_probe(features: Tensor, labels: Tensor, num_classes: int, weight_decay: float = 1e-3,
                     max_iter: int = 200) -> LinearProbe:
    """Softmax regression on ``features`` [N, D] fitted by full-batch L-BFGS (strong Wolfe line search)."""
    if features.shape[0] != labels.shape[0] or features.shape[0] < 2:
        raise ConfigError(f"a probe needs >= 2 examples and one label each; got {features.shape[0]} "
                          f"feature rows and {labels.shape[0]} labels")
    x = features.detach().float().cpu()
    y = labels.detach().long().cpu()
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    x = (x - mean) / std
    weight = torch.zeros(num_classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad(), torch.inference_mode(False):
        optimizer.step(closure)
    return LinearProbe(mean, std, weight.detach(), bias.detach())


def probe_accuracies(train_features: Sequence[Tensor], train_labels: Tensor,
                     test_features: dict[str, Sequence[Tensor]], test_labels: Tensor,
                     num_classes: int) -> list[dict[str, float]]:
    """For each layer: fit on its training features, score every named test set (e.g. ``clean``, ``adversarial``)."""
    results = []
    for index, features in enumerate(train_features):
        probe = fit_linear_probe(features, train_labels, num_classes)
        record = {"train": probe.accuracy(features, train_labels)}
        for name, sets in test_features.items():
            record[name] = probe.accuracy(sets[index], test_labels)
        results.append(record)
    return results


def layer_probes(model: nn.Module, layer_names: Sequence[str], train_images: Tensor, train_labels: Tensor,
                 test_images: Tensor, test_labels: Tensor, num_classes: int,
                 adversarial_test_images: Tensor | None = None, batch_size: int = 256,
                 selection: str = "names") -> list[dict[str, object]]:
    """Clean (and adversarial) probe accuracy of every layer in ``layer_names``.

    ``adversarial_test_images`` are the test images after an end-to-end attack on ``model``
    (see the module docstring). Returns one ``{"layer", "train", "clean"[, "adversarial"]}`` per layer.
    """
    train = pooled_layer_features(model, layer_names, train_images, batch_size, selection)
    tests = {"clean": pooled_layer_features(model, layer_names, test_images, batch_size, selection)}
    if adversarial_test_images is not None:
        tests["adversarial"] = pooled_layer_features(model, layer_names, adversarial_test_images, batch_size,
                                                     selection)
    accuracies = probe_accuracies(train, train_labels, tests, test_labels, num_classes)
    return [{"layer": name, **record} for name, record in zip(layer_names, accuracies, strict=True)]


def probe_curves(probes: dict[str, Any], attack_steps: int | None = None) -> dict[str, list[float]]:
    """Per-layer probe accuracies of ``analysis.json``'s ``probes`` entry, keyed by their legend.

    The adversarial curve names its attack (``adversarial (PGD-10, eps=8/255)``): accuracy under an
    attack means nothing without its strength.
    """
    records = probes["layers"]
    curves = {"clean": [record["clean"] for record in records]}
    if records and "adversarial" in records[0]:
        steps = f"PGD-{attack_steps}, " if attack_steps else "PGD, "
        curves[f"adversarial ({steps}{probes.get('adversarial') or 'eps not recorded'})"] = [
            record["adversarial"] for record in records]
    return curves
