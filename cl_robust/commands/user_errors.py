"""Errors the user can fix, as the one line ``cl-robust: error: ...`` and an exit status.

A ConfigError (bad options, data or checkpoints), a parser's or Lightning's complaint about the
arguments (exit status 2), or a non-finite training loss (exit status 1); anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

from jsonargparse import ArgumentError
from lightning.fabric.utilities.exceptions import MisconfigurationException

from cl_robust.callbacks.nan_guard import NonFiniteLossError
from cl_robust.errors import ConfigError


def find_config_error(error: BaseException, kind: type[Exception] = ConfigError) -> Exception | None:
    """The ``kind`` error (ConfigError) behind ``error``, if any (jsonargparse wraps errors raised while
    instantiating)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack += [current.__cause__, current.__context__]
    return None


def one_line(message: str) -> str:
    """A multi-line parser message as one line: its first line and its most specific (last) one."""
    noise = ("Given value", "Subtypes", "Errors", "Does not validate", "tip:")
    lines = [line.strip(" -") for line in str(message).splitlines()
             if line.strip(" -") and not line.strip(" -").startswith(noise) and "NoneType" not in line]
    if len(lines) <= 1:
        return lines[0] if lines else "invalid arguments"
    return f"{lines[0].rstrip(':')}: {lines[-1]}"


def user_error(error: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit status) for errors the user can fix; None for real bugs."""
    config_error = find_config_error(error)
    if config_error is not None:
        return str(config_error), 2
    for kind in (ArgumentError, MisconfigurationException):
        found = find_config_error(error, kind)
        if found is not None:
            return one_line(str(found)), 2
    training_error = find_config_error(error, NonFiniteLossError)
    if training_error is not None:
        return str(training_error), 1
    return None
