"""What each option of the data modules accepts; anything else is a ConfigError naming the option."""
from __future__ import annotations

from cl_robust.errors import ConfigError, shown


def check_resize(resize: bool) -> bool:
    """``resize``: whether images of another size may be resized (announced and recorded)."""
    if not isinstance(resize, bool):
        raise ConfigError(f"resize must be true or false (resize images of another size, recorded); "
                          f"got {shown(resize)}")
    return resize


def check_order_seed(order_seed: int | None) -> int | None:
    """``order_seed``: the seed of the splits' content order, or None for the storage order."""
    if order_seed is not None and (isinstance(order_seed, bool) or not isinstance(order_seed, int)
                                   or order_seed < 0):
        raise ConfigError(f"order_seed must be an integer >= 0, or null to keep the storage order; "
                          f"got {shown(order_seed)}")
    return order_seed


def check_loader_options(batch_size: int, eval_batch_size: int | None, per_class: int | None,
                         val_per_class: int, test_per_class: int | None, num_workers: int) -> None:
    """Batch sizes, per-class subset sizes and loader workers."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {shown(batch_size)}")
    if eval_batch_size is not None and (not isinstance(eval_batch_size, int) or eval_batch_size < 1):
        raise ConfigError(f"eval_batch_size must be a positive integer or null, got {shown(eval_batch_size)}")
    for name, value in (("per_class", per_class), ("test_per_class", test_per_class)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be an integer >= 1 or null (all images), got {shown(value)}")
    if not isinstance(val_per_class, int) or val_per_class < 0:
        raise ConfigError(f"val_per_class must be an integer >= 0, got {shown(val_per_class)}")
    if per_class is not None and val_per_class >= per_class:
        raise ConfigError(
            f"val_per_class={val_per_class} must be smaller than per_class={per_class} "
            "(validation images are held out of the training subset)"
        )
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"num_workers must be an integer >= 0, got {shown(num_workers)}")
