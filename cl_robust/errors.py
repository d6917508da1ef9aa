"""Errors that the command line turns into one clear line and a non-zero exit."""


class ConfigError(ValueError):
    """A user-facing problem with an option, a file or a checkpoint.

    The message names the option and what is accepted. ``cl-robust`` prints it as one
    line (no traceback) and exits with status 2; library users catch it as a ValueError.
    """


def check_positive(name: str, value: float) -> None:
    """Raise ConfigError unless ``value`` > 0."""
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")


def check_choice(name: str, value: str, choices: "list[str] | tuple[str, ...]") -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
