"""Shared test settings: no network logging, few threads, deterministic seeds, and how the suite is
spread over CPU cores with pytest-xdist (``make test`` runs ``pytest -n auto``; tests/README.md).

- ``-n auto`` starts one worker per usable CPU (the CPUs this process may run on, not the machine's);
  one more was slower (tests/README.md).
- A worker runs torch, and the programs its tests start, on one thread: two busy workers with two
  threads each on two cores ran the tests 2-4x slower than with one thread each.
- Tests that share a module-scoped fixture, or a machine-wide resource (``EXCLUSIVE_FIXTURES``: the
  one-node SLURM cluster), are put in one ``xdist_group`` and so run on one worker: the fixture is
  built once, and two workers never start two clusters.
- Work is handed out in collection order with the ``slow`` tests first, so that the longest tests do
  not start last while the other worker has nothing left to do.
- ``--room-times`` (``make test`` passes it) prints wall and CPU seconds summed by room.
- ``build_once`` builds what many tests read (tiny trained checkpoints, generated data) once per run,
  under a file lock, in a folder every worker sees.
"""
from __future__ import annotations

import os

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... in an xdist worker; None otherwise
if WORKER is not None:  # before torch is imported: its thread pools read these once
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

import importlib.util  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from filelock import FileLock  # noqa: E402

torch.set_num_threads(1 if WORKER is not None else min(2, torch.get_num_threads()))

#: Session fixtures that hold something of the whole machine; every test using one runs on one worker.
EXCLUSIVE_FIXTURES = {"slurm"}
SCOPES_KEPT_TOGETHER = {"module", "class", "package"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--room-times", action="store_true",
                     help="print the tests' wall and CPU seconds summed by room (tests/room_times.py)")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: a container's or ``taskset``'s share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per usable CPU (xdist's own count is the machine's physical cores);
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides it."""
    requested = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    return int(requested) if requested else usable_cpus()


def _shared_fixture_keys(item: pytest.Item) -> list[str]:
    """What ``item`` shares with other tests that must run in the same worker: each module- (class-,
    package-) scoped fixture it uses, one key per module, fixture and parameter; each exclusive fixture."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    indices = getattr(getattr(item, "callspec", None), "indices", {})

    def depends_on(name: str) -> set[str]:  # the fixture and every fixture it asks for, transitively
        found, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in found and info.name2fixturedefs.get(current):
                found.add(current)
                todo.extend(info.name2fixturedefs[current][-1].argnames)
        return found

    keys = []
    for name in info.names_closure:
        definitions = info.name2fixturedefs.get(name)
        if not definitions:
            continue
        if name in EXCLUSIVE_FIXTURES:
            keys.append(name)
        elif definitions[-1].scope in SCOPES_KEPT_TOGETHER:  # one instance per parameter it depends on
            parameters = "".join(f"[{other}={indices[other]}]" for other in sorted(depends_on(name)) if other in indices)
            keys.append(f"{item.nodeid.split('::')[0]}::{name}{parameters}")
    return keys


def _groups(items: list[pytest.Item]) -> dict[pytest.Item, str]:
    """Tests joined (transitively) by a shared key, each group named after one of its keys (the
    exclusive fixture's name where it holds one)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    item_keys = {item: _shared_fixture_keys(item) for item in items}
    for keys in item_keys.values():
        for key in keys[1:]:
            first, other = find(keys[0]), find(key)
            if first != other:  # an exclusive fixture's name stays the root, and so the group's name
                parent[first if other in EXCLUSIVE_FIXTURES else other] = other if other in EXCLUSIVE_FIXTURES else first
    return {item: find(keys[0]) for item, keys in item_keys.items() if keys}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests that must share a worker, and move the units holding a ``slow`` test first
    (a stable sort: the order within and between units is otherwise the collection's)."""
    groups = _groups(items)
    for item, group in groups.items():
        if not any(True for _ in item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(group))
    unit = {item: groups.get(item, item.nodeid) for item in items}
    slow_units = {unit[item] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: unit[item] not in slow_units)


def _xdist_groups_work() -> bool:
    """Whether pytest-xdist's ``--dist loadgroup`` can group tests under this pytest.

    xdist writes the group into ``item._nodeid`` (``test_x@group``) and schedules by it; pytest 9.2
    derives ``nodeid`` from ``item._id`` instead, so the groups were silently ignored there and each
    shared fixture was built once per worker (pyproject.toml keeps pytest below 9.2).
    """
    from _pytest.nodes import Node

    probe = object.__new__(Node)
    probe._nodeid = "probe@group"  # type: ignore[attr-defined]
    try:
        return probe.nodeid == "probe@group"
    except AttributeError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """``--room-times``' report; and the third-party warnings ``cl-robust`` silences as harmless (each with
    why, in cl_robust/commands/quiet.py) stay out of the test report too: the tests drive Lightning
    directly, without the command's filters."""
    import re

    if WORKER is None and config.getvalue("dist") == "loadgroup" and config.getvalue("numprocesses") \
            and not _xdist_groups_work():
        raise pytest.UsageError(f"pytest {pytest.__version__} ignores pytest-xdist's test groups (--dist loadgroup): "
                                "install pytest<9.2 (pip install -e .[dev] does), or run without -n")
    if config.getoption("room_times"):
        spec = importlib.util.spec_from_file_location("room_times", Path(__file__).with_name("room_times.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config.pluginmanager.register(module.RoomTimes(config), "room_times")

    from cl_robust.commands.quiet import HARMLESS_PATTERNS, HARMLESS_WARNINGS

    for message, _ in HARMLESS_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{re.escape(message)}")
    for pattern, _, _ in HARMLESS_PATTERNS:
        config.addinivalue_line("filterwarnings", f"ignore:{pattern}")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def build_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Callable[[Path], object]], Path]:
    """``build_once(name, build)``: the folder ``<shared>/<name>`` after ``build(folder)`` filled it, built
    once per test run however many xdist workers ask. The first worker builds under a file lock (with
    torch seeded, so the result does not depend on which worker or which tests came first); the others
    wait for it and reuse the folder. ``name`` must say everything the build depends on."""
    # Under xdist each worker's temporary folder is <run>/gwN: <run> is the run's, shared by its workers.
    shared = tmp_path_factory.getbasetemp()
    if WORKER is not None:
        shared = shared.parent
    shared = shared / "built_once"
    shared.mkdir(exist_ok=True)

    def get(name: str, build: Callable[[Path], object]) -> Path:
        folder, done = shared / name, shared / f"{name}.done"
        with FileLock(str(shared / f"{name}.lock")):
            if not done.exists():
                folder.mkdir()
                with torch.random.fork_rng():
                    torch.manual_seed(0)
                    build(folder)
                done.touch()
        return folder

    return get


@pytest.fixture
def real_cifar_root() -> str:
    """Root of a real CIFAR subset (image-folder layout), from CL_ROBUST_TEST_DATA; skips when unset."""
    root = os.environ.get("CL_ROBUST_TEST_DATA")
    if not root or not os.path.isdir(root):
        pytest.skip("CL_ROBUST_TEST_DATA is not set to a real CIFAR subset")
    return root


def _write_reordered_copy(root: str, destination: str, seed: int = 1) -> str:
    """A copy of a torchvision-layout CIFAR-10 under ``root`` whose batch files hold the images in another order."""
    import pickle

    source, target = Path(root) / "cifar-10-batches-py", Path(destination) / "cifar-10-batches-py"
    target.mkdir(parents=True)
    for file in source.iterdir():
        if file.name == "batches.meta":
            (target / file.name).write_bytes(file.read_bytes())
            continue
        entry = pickle.loads(file.read_bytes(), encoding="latin1")
        permutation = torch.randperm(len(entry["labels"]), generator=torch.Generator().manual_seed(seed)).tolist()
        entry["data"] = entry["data"][permutation]
        entry["labels"] = [entry["labels"][i] for i in permutation]
        (target / file.name).write_bytes(pickle.dumps(entry))
    return destination


@pytest.fixture(scope="session")
def reordered_copy():  # noqa: ANN201
    """``reordered_copy(root, destination)``: the same CIFAR-10 images stored in another order."""
    return _write_reordered_copy


def user_model_folders() -> list[str]:
    """``tests/support`` (``user_models``) and ``examples`` (``own_model``, which ``user_models`` imports)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    return [str(here / "support"), str(here.parent / "examples")]


@pytest.fixture
def user_models(monkeypatch: pytest.MonkeyPatch) -> str:
    """Puts :func:`user_model_folders` on sys.path and PYTHONPATH, so ``user_models:<callable>`` specs import (in
    and out of process); returns the support folder."""
    folders = user_model_folders()
    for folder in reversed(folders):
        monkeypatch.syspath_prepend(folder)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [*folders, os.environ.get("PYTHONPATH")])))
    return folders[0]


@pytest.fixture(scope="session")
def warm_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """This worker's warm ``cl-robust`` server (``tests/warm_process.py``): started on first use."""
    from .warm_process import WarmServer

    server = WarmServer(tmp_path_factory.mktemp("warm"), dict(os.environ))
    yield server
    server.close()
