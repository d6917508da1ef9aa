"""Errors that the command line turns into one clear line and a non-zero exit."""


class ConfigError(ValueError):
    """A user-facing problem with an option, a file or a checkpoint.

    The message names the option and what is accepted. ``cl-robust`` prints it as one
    line (no traceback) and exits with status 2; library users catch it as a ValueError.
    """


class ParameterTypeError(ConfigError, TypeError):
    """A parameter of the wrong type (a ConfigError naming it, and a TypeError for code that expects one)."""


def check_number(name: str, value: object) -> None:
    """Raise ParameterTypeError naming ``name`` unless ``value`` is an int or a float (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = f"; write {value} without quotes" if isinstance(value, str) and _is_number(value) else ""
        raise ParameterTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__}){hint}")


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
        raise ConfigError(f"{name} must be > 0, got {value!r}")


def check_choice(name: str, value: str, choices: "list[str] | tuple[str, ...]") -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
