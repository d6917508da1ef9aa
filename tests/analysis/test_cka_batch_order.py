"""Minibatch CKA over seeded random batches matches the full-batch unbiased CKA; over class-sorted batches it does not.

Nguyen, Raghu & Kornblith (2021) average HSIC_1 over batches assumed to be random samples. Batches
of one or two classes (image folders read class by class) hold only within-class variation, and
the estimate drifts far from the full-data value on a model with class-dependent features.
"""
import torch

from cl_robust.analysis import LayerRecorder, MinibatchCKA, linear_cka_full
from cl_robust.analysis.baseline import reestimate_batchnorm
from cl_robust.analysis.layer_selection import resolve_layers
from cl_robust.data import CIFARDataModule
from cl_robust.data.augment import to_float
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.methods import SupervisedLearning

#: Largest difference allowed between the minibatch and the full-batch estimate (500 images, batches of 50).
TOLERANCE = 0.02


def test_random_batches_agree_with_full_batch_cka_and_sorted_ones_do_not(tmp_path) -> None:  # noqa: ANN001
    root = write_synthetic_cifar(str(tmp_path), "cifar10", train_per_class=20, test_per_class=50, layout="torchvision")
    model = SupervisedLearning(backbone="resnet_tiny").eval()
    layers = resolve_layers(model, "blocks")
    gaps = {}
    for order_seed in (None, 0):
        data = CIFARDataModule(root=root, batch_size=8, eval_batch_size=50, order_seed=order_seed)
        data.setup("test")
        if order_seed is None:
            reestimate_batchnorm(model, [to_float(data.train_set.images)])
        metric, batches = MinibatchCKA(len(layers)), []
        with LayerRecorder(model, layers) as recorder, torch.no_grad():
            for images, _ in data.test_dataloader():
                model(to_float(images))
                batches.append(recorder.features())
                metric.update(batches[-1])
        features = [torch.cat([batch[i] for batch in batches]) for i in range(len(layers))]
        full = torch.tensor([[linear_cka_full(a, b).item() for b in features] for a in features], dtype=torch.float64)
        gaps[order_seed] = (metric.compute() - full).abs().max().item()
    assert gaps[0] < TOLERANCE, gaps
    assert gaps[None] > 10 * TOLERANCE, gaps
