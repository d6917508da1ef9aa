"""The pieces of the ``cl-robust`` commands, below :mod:`cl_robust.cli` (the entry point).

``fit`` / ``validate`` / ``test``: LightningCLI with the library's defaults and checks
(``lightning_cli``), resuming (``resume``), the run's record (``run_record``) and SLURM's requeue
signal (``slurm_requeue``). What ``evaluate`` and ``analyze`` share: reading a checkpoint or
anyone's model (``checkpoint``, ``foreign_model``, ``model_source``), the common options
(``options``), several devices (``distributed``), the progress bar (``progress``) and the optional
W&B run (``tracking``). Every command: errors as one line (``user_errors``), software versions
(``versions``), output folders checked first (``locations``), known messages silenced (``quiet``).

The modules are imported one by one; this package imports none of them itself.
"""
