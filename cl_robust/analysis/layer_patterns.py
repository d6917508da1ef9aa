"""Layers chosen by glob patterns over ``named_modules()`` names, e.g. ``layer*.?`` or ``blocks.*.mlp``.

Module names are dotted paths, and patterns read them as paths: ``*`` matches within one part
(no dot), ``?`` one character of a part, ``[seq]`` / ``[!seq]`` one character in (not in) ``seq``,
and ``**`` any run of parts. So ``layer*.?`` matches ``layer1.0`` and ``layer4.1`` but not
``layer1.0.conv1`` or ``layer1.0.downsample.0``. A pattern is tried on each full name and on the
name without the wrapper cl_robust puts around a model (``encoder.``, ``encoder.net.`` or
``net.``), so the same pattern works for a torchvision model given with ``--model`` and for a
checkpoint trained with it as a backbone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from torch import nn

from cl_robust.errors import ConfigError

#: Prefixes of the wrappers around a model's own module names, longest first.
WRAPPER_PREFIXES: tuple[str, ...] = ("encoder.net.", "encoder.", "net.")
_SPECIAL = frozenset("*?[")


def is_pattern(entry: str) -> bool:
    """Whether a ``--layers`` entry is a glob pattern rather than a module name."""
    return any(character in _SPECIAL for character in entry)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a dotted-path glob (see the module docstring)."""
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        character = pattern[index]
        closing = pattern.find("]", index + 2) if character == "[" else -1
        if character == "*":
            parts.append("[^.]*")
        elif character == "?":
            parts.append("[^.]")
        elif closing != -1:
            body = pattern[index + 1:closing]
            body = "^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)
            parts.append(f"[{body}]")
            index = closing + 1
            continue
        else:
            parts.append(re.escape(character))
        index += 1
    return re.compile("".join(parts) + r"\Z")


def _short_forms(name: str) -> list[str]:
    forms = [name]
    for prefix in WRAPPER_PREFIXES:
        if name.startswith(prefix):
            forms.append(name[len(prefix):])
            break
    return forms


def matching_modules(model: nn.Module, pattern: str) -> list[str]:
    """Names of the modules of ``model`` that ``pattern`` matches, in registration order."""
    regex = pattern_regex(pattern)
    return [name for name, _ in model.named_modules() if name and any(regex.match(form) for form in _short_forms(name))]


def expand_patterns(model: nn.Module, entries: Sequence[str],
                    in_forward_order: Callable[[nn.Module, list[str]], list[str]]) -> list[str]:
    """``entries`` with every pattern replaced by the modules it matches that run in the forward pass.

    ``in_forward_order(model, names)`` orders names by their outputs in one forward pass, splitting a
    module that runs several times into ``name#0``, ``name#1``, ... and leaving out modules that do
    not run. A pattern that matches no module that runs is refused, naming it.
    """
    chosen: list[str] = []
    for entry in entries:
        if not is_pattern(entry):
            found = [entry]
        else:
            matched = matching_modules(model, entry)
            found = in_forward_order(model, matched) if matched else []
            if not found:
                what = "no module" if not matched else f"only modules that do not run in the forward ({matched[0]!r}, ...)"
                raise ConfigError(f"layers: the pattern {entry!r} matches {what} of the {type(model).__name__} model; "
                                  "patterns are matched against "
                                  "named_modules() names ('*' within one dotted part, '**' across parts), e.g. "
                                  "'layer*.?' or 'encoder.layer*.?'")
        chosen += [name for name in found if name not in chosen]
    return chosen


__all__ = ["WRAPPER_PREFIXES", "expand_patterns", "is_pattern", "matching_modules", "pattern_regex"]
