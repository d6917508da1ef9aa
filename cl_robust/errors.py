"""Errors that the command line turns into one clear line and a non-zero exit."""


class ConfigError(ValueError):
    """A user-facing problem with an option, a file or a checkpoint.

    The message names the option and what is accepted. ``cl-robust`` prints it as one
    line (no traceback) and exits with status 2; library users catch it as a ValueError.
    """


class ParameterTypeError(ConfigError, TypeError):
    """A parameter of the wrong type (a ConfigError naming it, and a TypeError for code that expects one)."""


def shown(value: object) -> str:
    """``value`` as an error message shows it: its repr, or its class for an ``nn.Module`` or any object whose repr
    spans several lines (a ResNet's repr lists every layer; one line must stay one line)."""
    if _is_module(value):
        return f"a {type(value).__name__} module"
    text = repr(value)
    if "\n" in text:
        return f"a {type(value).__name__} object"
    return text if len(text) <= 200 else f"{text[:200]}... ({type(value).__name__})"


def _is_module(value: object) -> bool:
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(value, nn.Module)


def check_number(name: str, value: object) -> None:
    """Raise ParameterTypeError naming ``name`` unless ``value`` is an int or a float (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = f"; write {value} without quotes" if isinstance(value, str) and _is_number(value) else ""
        raise ParameterTypeError(f"{name} must be a number, got {shown(value)} ({type(value).__name__}){hint}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_positive(name: str, value: float) -> None:
    """Raise ConfigError unless ``value`` is a number > 0."""
    check_number(name, value)
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {shown(value)}")


def check_choice(name: str, value: str, choices: "list[str] | tuple[str, ...]") -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if _is_module(value) or value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}; got {shown(value)}")
