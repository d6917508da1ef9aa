"""The forward pass that records layer features for CKA, in float32 or bf16.

The forward pass is most of the cost of layer x layer CKA: on a 2-core CPU a ResNet-18 forward
of 200 CIFAR images takes about 1.1 s, the Grams and HSIC sums of its 9 block outputs about
0.1 s. ``"32"`` (the default) runs it in float32, as the model was trained. ``"bf16"`` runs it
under bfloat16 autocast with the images in channels_last layout (the layout bf16 convolution
kernels prefer; the weights are not touched); features are cast back to float32 before their
Grams and the HSIC sums stay float64. Where bf16 is native (CPUs with AMX or AVX-512 BF16, GPUs
with bf16 tensor cores) the forward is 2-4x faster; on a random-init ResNet-18 with 2,000 images
the CKA matrix moved by at most 1.5e-4 (``python benchmarks/cka.py`` prints this difference on
every run). Attacks never run under it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from cl_robust.errors import check_choice

FEATURE_PRECISIONS = ("32", "bf16")


def feature_pass(model: nn.Module, images: Tensor, precision: str = "32") -> None:
    """Run ``model`` on ``images`` without gradients at ``precision`` ("32" or "bf16").

    The output is dropped: the features are what a :class:`~cl_robust.analysis.LayerRecorder`
    on ``model`` recorded.
    """
    check_choice("precision", precision, FEATURE_PRECISIONS)
    with torch.no_grad():
        if precision == "32":
            model(images)
            return
        with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16):
            model(images.contiguous(memory_format=torch.channels_last))
