"""What ``cl-robust evaluate`` and ``cl-robust analyze`` share: reading a checkpoint, the common
options, several devices, the software versions and the optional W&B run.

The modules are imported one by one (``cl_robust.commands.checkpoint``, ``.options``,
``.distributed``, ``.versions``, ``.tracking``); this package imports none of them itself.
"""
