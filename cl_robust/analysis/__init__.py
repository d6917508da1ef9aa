"""Representation analysis: minibatch CKA, layer recording, redundancy summaries."""

from cl_robust.analysis.cka import MinibatchCKA, cka_diagonal, gram_linear, linear_cka_full, unbiased_hsic
from cl_robust.analysis.layers import LayerRecorder, all_module_names, block_names
from cl_robust.analysis.redundancy import redundancy_scores

__all__ = [
    "LayerRecorder",
    "MinibatchCKA",
    "all_module_names",
    "block_names",
    "cka_diagonal",
    "gram_linear",
    "linear_cka_full",
    "redundancy_scores",
    "unbiased_hsic",
]
