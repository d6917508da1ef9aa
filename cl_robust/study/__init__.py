"""The whole study in one command: grid file -> DAG of runs -> resumable execution -> report.

``grid`` reads and expands the grid file, ``configs`` composes each training run's config,
``tools`` knows ``cl-robust evaluate`` / ``analyze``, ``launch`` and ``forkserver`` start runs,
``records`` keeps what is done, ``runner`` executes, ``report`` and ``figures`` summarise and
``command`` is ``cl-robust study``.
"""
