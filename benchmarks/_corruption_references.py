"""The published CIFAR-10-C generator and the ``imagecorruptions`` package, runnable on today's libraries.

Both were written for numpy < 1.20, scikit-image < 0.19 and setuptools' ``pkg_resources``. The
shims below restore only what they call (``np.float_``, binary ``np.fromstring``, ``multichannel``
of ``skimage.filters.gaussian``, ``pkg_resources.resource_filename``); the code itself is run
as published. Needs (measurement only, not the library): scikit-image, opencv-python-headless,
Wand with ImageMagick 6's MagickWand library (Debian: libmagickwand-6.q16-6) for the generator,
and imagecorruptions (``pip install --no-deps imagecorruptions``: it asks for opencv-python).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

END_OF_DISTORTIONS = "# /////////////// End Distortions ///////////////"


def apply_compat_shims() -> None:
    """Put back the old numpy / scikit-image / setuptools names the two references use."""
    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]
    original_fromstring = np.fromstring
    if not getattr(original_fromstring, "_shimmed", False):
        def fromstring(data, dtype=float, count=-1, sep=""):  # type: ignore[no-untyped-def]
            if sep == "":
                return np.frombuffer(data, dtype=dtype, count=count).copy()
            return original_fromstring(data, dtype=dtype, count=count, sep=sep)

        fromstring._shimmed = True  # type: ignore[attr-defined]
        np.fromstring = fromstring  # type: ignore[assignment]
    import skimage.filters

    gaussian = skimage.filters.gaussian
    if not getattr(gaussian, "_shimmed", False):
        def gaussian_with_multichannel(image, *args, multichannel=None, **kwargs):  # type: ignore[no-untyped-def]
            if multichannel:
                kwargs.setdefault("channel_axis", -1)
            return gaussian(image, *args, **kwargs)

        gaussian_with_multichannel._shimmed = True  # type: ignore[attr-defined]
        skimage.filters.gaussian = gaussian_with_multichannel
    if "pkg_resources" not in sys.modules:
        module = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            module = importlib.import_module(package)
            folder = Path(module.__file__).parent  # a module's resources sit beside it, a package's inside it
            return str(folder / name)

        module.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = module


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run with ``folder`` as the working directory (the generator opens ./frost1.png ...)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def load_published_generator(path: Path) -> dict[str, Callable[..., object]]:
    """The distortion functions of ``make_cifar_c.py`` (its definitions only, not its dataset loop)."""
    apply_compat_shims()
    text = path.read_text()
    if END_OF_DISTORTIONS not in text:
        raise SystemExit(f"{path} does not look like make_cifar_c.py (no {END_OF_DISTORTIONS!r} line)")
    namespace: dict[str, object] = {"__name__": "make_cifar_c"}
    exec(compile(text.split(END_OF_DISTORTIONS)[0], str(path), "exec"), namespace)  # noqa: S102 - the published code
    return {name: value for name, value in namespace.items() if callable(value)}  # type: ignore[misc]


def load_imagecorruptions() -> Callable[..., np.ndarray]:
    """``imagecorruptions.corrupt`` (ImageNet-C's constants), shimmed for today's libraries."""
    apply_compat_shims()
    from imagecorruptions import corrupt

    return corrupt
