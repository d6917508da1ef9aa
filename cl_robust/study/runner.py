"""Resumable execution of the study's runs, in DAG order, one child process each.

A run with ``done.json`` is skipped. A training run killed midway restarts from its
``checkpoints/last.ckpt``. A failed run records ``failed.json`` (exit status and the last
lines of its log); the runs that need it are skipped, with the reason, and the rest go on.
"""

from __future__ import annotations

import math
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from queue import Queue

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cl_robust.callbacks.epoch_checkpoints import epoch_checkpoint_name
from cl_robust.errors import ConfigError
from cl_robust.study.configs import compose
from cl_robust.study.grid import Run, StudySpec
from cl_robust.study.launch import (
    POLL_SECONDS,
    ForkServerLauncher,
    SubprocessLauncher,
    choose_launcher,
    command_line,
    make_launcher,
    thread_environment,
)
from cl_robust.study.records import DONE_FILE, FAILED_FILE, is_done, read_json, run_dir, write_json
from cl_robust.study.tools import result_file, tool_argv

ERROR_LINES = 15


@dataclass
class Outcome:
    """What happened to one run in this invocation."""

    run_id: str
    status: str  # done | cached | failed | skipped
    seconds: float = 0.0
    reason: str = ""


def last_checkpoint(output: Path, run_id: str) -> Path:
    return run_dir(output, run_id) / "checkpoints" / "last.ckpt"


def input_checkpoint(output: Path, run: Run) -> Path:
    """The checkpoint ``run`` reads: its source run's ``last.ckpt``, or ``epoch<k>.ckpt`` for a fine-tuning length."""
    assert run.source is not None
    if run.length is not None:
        return run_dir(output, run.source) / "checkpoints" / epoch_checkpoint_name(run.length)
    return last_checkpoint(output, run.source)


def readable_checkpoint(path: Path) -> bool:
    """A complete checkpoint (torch's zip format; a file cut short by a kill has no central directory)."""
    return path.is_file() and zipfile.is_zipfile(path)


def check_prerequisites(spec: StudySpec, selected: list[Run]) -> None:
    """Refuse a selection whose runs need a run that is neither done nor selected."""
    chosen = {run.run_id for run in selected}
    for run in selected:
        for need in run.needs:
            if need not in chosen and not is_done(spec.output, need):
                raise ConfigError(f"run {run.run_id!r} needs {need!r}, which is not done; run it first "
                                  f"(--only {need}) or select both")


def longest_first(ready: list[Run], expected: Callable[[Run], float | None]) -> list[Run]:
    """``ready`` with the runs expected to take longest first (no estimate yet: first), ties in grid order.

    With several runs at once, a long run that starts last leaves the other workers idle while it
    finishes; starting the longest first (LPT scheduling, Graham 1969) shortens the whole study.
    """
    def key(run: Run) -> float:
        seconds = expected(run)
        return -math.inf if seconds is None else -seconds

    return sorted(ready, key=key)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _no_tick() -> None:
    pass


class StudyRunner:
    """Runs the selected runs of ``spec`` (all by default), skipping the finished ones."""

    def __init__(self, spec: StudySpec, console: Console, selected: list[Run] | None = None, jobs: int = 1) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ConfigError(f"jobs must be an integer >= 1 (runs at once); got {jobs!r}")
        self.spec = spec
        self.console = console
        self.selected = spec.runs if selected is None else selected
        self.outcomes: dict[str, Outcome] = {}
        self.jobs = jobs
        name = choose_launcher(spec.raw["launcher"], spec.option("trainer"))
        self.launchers: Queue[SubprocessLauncher | ForkServerLauncher] = Queue()
        for _ in range(jobs):
            self.launchers.put(make_launcher(name, thread_environment(jobs)))
        #: Seconds of the finished runs, by (phase, scheme, scenario).
        self.durations: dict[tuple[str, str, str], list[float]] = {}

    # ------------------------------------------------------------------ timing
    def _record_duration(self, run: Run, seconds: float) -> None:
        self.durations.setdefault((run.phase, run.scheme, run.scenario), []).append(seconds)

    def _expected(self, run: Run) -> float | None:
        """Mean seconds of the finished runs of the same phase, scheme and scenario (None: none yet)."""
        return _mean(self.durations.get((run.phase, run.scheme, run.scenario), []))

    def _estimate(self, run: Run) -> float | None:
        """For the ETA: the mean of the finished runs of the same phase, else of every finished run."""
        every = [(kind[0], t) for kind, times in self.durations.items() for t in times]
        return _mean([t for phase, t in every if phase == run.phase] or [t for _, t in every])

    def _eta(self, pending: list[Run], running_since: float) -> str:
        estimates = [self._estimate(run) for run in pending]
        if not pending or any(value is None for value in estimates):
            return "ETA: after the first run of each phase" if pending else ""
        left = sum(value for value in estimates if value is not None) / self.jobs - (time.monotonic() - running_since)
        return f"ETA {max(0.0, left) / 60:.1f} min"

    # --------------------------------------------------------------- execution
    def _argv(self, run: Run, folder: Path) -> tuple[list[str], str | None]:
        """The ``cl-robust`` arguments of ``run`` and the checkpoint it resumes from (if any)."""
        source = input_checkpoint(self.spec.output, run) if run.source else None
        if run.phase in ("evaluate", "analyze"):
            assert source is not None
            return tool_argv(self.spec, run, source, folder), None
        config_path = folder / "config.yaml"
        config_path.write_text(yaml.safe_dump(compose(self.spec, run, folder, source), sort_keys=False))
        argv = ["fit", "--config", str(config_path)]
        last = last_checkpoint(self.spec.output, run.run_id)
        if readable_checkpoint(last):
            return [*argv, "--ckpt_path", str(last)], str(last)
        if last.exists():  # cut short by a kill while being written: start over rather than fail
            return [*argv, "--ckpt_path", "null"], None
        return argv, None

    def _succeeded(self, run: Run, folder: Path, code: int) -> bool:
        if code != 0:
            return False
        if run.phase in ("pretrain", "finetune"):
            return last_checkpoint(self.spec.output, run.run_id).is_file()
        return result_file(run, folder).is_file()

    def execute(self, run: Run, tick: Callable[[], None],
                launcher: SubprocessLauncher | ForkServerLauncher | None = None) -> Outcome:
        """Run one run now (with ``launcher``, else one of the runner's); record done.json or failed.json."""
        if launcher is None:
            launcher = self.launchers.get()
            self.launchers.put(launcher)
        folder = run_dir(self.spec.output, run.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FAILED_FILE).unlink(missing_ok=True)
        log = folder / "stdout.log"
        argv, resumed_from = self._argv(run, folder)
        (folder / "command.txt").write_text(command_line(argv) + "\n")
        started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        header = f"==== {started} {run.run_id}: " + (f"resuming from {resumed_from}" if resumed_from else "start")
        with open(log, "a") as stream:
            stream.write(f"{header}\n$ {command_line(argv)}\n")
        offset = log.stat().st_size
        begin = time.monotonic()
        code = launcher.run(argv, log, tick)
        seconds = time.monotonic() - begin
        if self._succeeded(run, folder, code):
            write_json(folder / DONE_FILE, {"run_id": run.run_id, "phase": run.phase, "seconds": round(seconds, 2),
                                            "started": started,
                                            "finished": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                                            "resumed_from": resumed_from, "command": command_line(argv)})
            return Outcome(run.run_id, "done", seconds)
        with open(log, errors="replace") as stream:
            stream.seek(offset)
            lines = [line.rstrip() for line in stream.read().splitlines() if line.strip()]
        error = lines[-ERROR_LINES:] or [f"exit status {code}, no output"]
        if code == 0:
            error.append("the command exited 0 but wrote no checkpoint / result file")
        write_json(folder / FAILED_FILE, {"run_id": run.run_id, "returncode": code, "seconds": round(seconds, 2),
                                          "error": error, "log": str(log)})
        return Outcome(run.run_id, "failed", seconds, error[-1])

    def _blocked_by(self, run: Run) -> str | None:
        for need in run.needs:
            outcome = self.outcomes.get(need)
            if outcome is not None and outcome.status in ("failed", "skipped"):
                return need
        return None

    def run(self) -> dict[str, Outcome]:
        """Run every selected run that is not done; returns each selected run's outcome."""
        for run in self.spec.runs:
            path = run_dir(self.spec.output, run.run_id) / DONE_FILE
            if path.is_file():
                self._record_duration(run, float(read_json(path).get("seconds", 0.0)))
        pending = [run for run in self.selected if not is_done(self.spec.output, run.run_id)]
        for run in self.selected:
            if run not in pending:
                self.outcomes[run.run_id] = Outcome(run.run_id, "cached")
        try:
            self._run_pending(pending)
        finally:
            while not self.launchers.empty():
                self.launchers.get().close()
        return self.outcomes

    def _finished(self, run_id: str) -> bool:
        return is_done(self.spec.output, run_id)

    def _run_pending(self, pending: list[Run]) -> None:
        """Run ``pending`` in DAG order, ``jobs`` at a time, with a progress bar (runs, done/total, ETA).

        A run starts once every run it needs is done; a run whose prerequisite failed or was
        skipped is skipped. With ``jobs`` > 1 the ready runs start longest expected first
        (:func:`longest_first`), else in grid order. Each worker has its own launcher (and fork server).
        """
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[eta]}"))
        waiting = list(pending)
        running: dict[Future[Outcome], tuple[Run, float]] = {}
        with Progress(*columns, console=self.console, auto_refresh=False, transient=False) as progress, \
                ThreadPoolExecutor(max_workers=self.jobs) as pool:
            task = progress.add_task(self.spec.name, total=len(pending), eta="")

            def tick() -> None:
                names = ", ".join(run.run_id for run, _ in running.values())
                started = min((begin for _, begin in running.values()), default=time.monotonic())
                progress.update(task, description=f"[{len(running)} running] {names}" if names else self.spec.name,
                                eta=self._eta(waiting + [run for run, _ in running.values()], started))
                progress.refresh()

            while waiting or running:
                for run in list(waiting):
                    blocker = self._blocked_by(run)
                    if blocker is not None:
                        waiting.remove(run)
                        self.outcomes[run.run_id] = Outcome(run.run_id, "skipped", reason=f"needs {blocker}, which "
                                                            f"{self.outcomes[blocker].status}")
                        progress.update(task, advance=1)
                ready = [run for run in waiting if all(self._finished(need) for need in run.needs)]
                if self.jobs > 1:
                    ready = longest_first(ready, self._expected)
                for run in ready[:self.jobs - len(running)]:
                    waiting.remove(run)
                    # Workers do not tick: this loop refreshes the bar while they wait.
                    running[pool.submit(self._execute_with_a_launcher, run, _no_tick)] = (run, time.monotonic())
                if not running:
                    break  # nothing can start (check_prerequisites refuses such selections up front)
                tick()
                finished, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    run, _ = running.pop(future)
                    outcome = future.result()
                    self.outcomes[run.run_id] = outcome
                    if outcome.status == "done":
                        self._record_duration(run, outcome.seconds)
                    mark = "[green]done[/]" if outcome.status == "done" else f"[red]FAILED[/] ({outcome.reason})"
                    progress.console.print(f"{run.run_id}: {mark} in {outcome.seconds:.1f} s")
                    progress.update(task, advance=1)
            progress.update(task, description=self.spec.name, eta="")
            progress.refresh()

    def _execute_with_a_launcher(self, run: Run, tick: Callable[[], None]) -> Outcome:
        launcher = self.launchers.get()
        try:
            return self.execute(run, tick, launcher)
        finally:
            self.launchers.put(launcher)
