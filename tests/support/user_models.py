"""Models as a user of the library would write them, importable as ``user_models:<name>`` in tests: the
README example's (``examples/own_model.py``) and faulty ones for the bad-input tests.

Tests put this folder and ``examples/`` on ``sys.path`` (:func:`tests.conftest.user_model_folders`, the
``user_models`` fixture), as a user puts their own package on PYTHONPATH.
"""
from __future__ import annotations

# The backbone and the classifier of the README's example, as a user's package would hold them.
from own_model import SmallClassifier, small_classifier, small_encoder  # noqa: E402,F401
from torch import nn


def feature_maps() -> nn.Module:
    """A backbone that forgets to pool: [N, 8, S, S] maps instead of [N, D] features."""
    return nn.Conv2d(3, 8, 3, padding=1)


def fixed_size_encoder(image_size: int = 32) -> nn.Module:
    """Flattens its maps into a linear layer, so it only runs at one image size."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * image_size * image_size, 16))


def fixed_size_classifier(image_size: int = 64, num_classes: int = 10) -> nn.Module:
    """A classifier that only runs on images of ``image_size``."""
    return nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * image_size * image_size, num_classes))


def not_a_module() -> int:
    return 42


NOT_CALLABLE = 3
