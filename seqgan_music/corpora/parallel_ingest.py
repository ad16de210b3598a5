"""Map a work function over many input files in worker processes that a bad file cannot take down.

One file is one task. Each task runs under a time limit and a memory cap: a task over its time is
killed with its worker, a task over its memory gets a MemoryError (the worker's address space is
capped while it runs), and a worker that dies (a segfault, the kernel's OOM killer) costs the one
file it held. Such a file comes back as `Abandoned` with the reason; every other result comes back
as the work function returned it, in input order whatever the number of workers.

Workers are started with "forkserver" (else "spawn"), never "fork": the caller may hold torch's
threads, which a forked child would inherit half-locked. `map_files` is the one seam between the
builder and an engine: the local process pool, or Ray tasks when ray is installed.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from seqgan_music.errors import SeqganError

ENGINES = ("processes", "ray")
_T = TypeVar("_T")
_R = TypeVar("_R")
_STOP_SECONDS = 5.0  # how long a stopping worker may take to exit before it is killed
_START_SECONDS = 120.0  # how long a new worker may take to import the reader (a loaded machine)
_READY = "ready"


@dataclass(frozen=True)
class IngestLimits:
    """Per file: wall-clock seconds, and bytes of memory beyond what the worker held before it."""

    seconds: float = 60.0
    memory_bytes: int = 1 << 30

    def over_time(self) -> str:
        return f"over the {self.seconds:g} s limit"

    def over_memory(self) -> str:
        size = self.memory_bytes
        return f"over the {size / (1 << 30):g} GB memory cap" if size >= 1 << 30 else f"over the {size >> 20} MB memory cap"


@dataclass(frozen=True)
class Abandoned:
    """A file the engine gave up on, and why (over a limit, or its worker died)."""

    reason: str


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_files(work: Callable[[_T], _R], items: Sequence[_T], workers: int | None = None,
              limits: IngestLimits = IngestLimits(), engine: str = "processes",
              lookahead: int = 1000) -> Iterator[_R | Abandoned]:
    """`work(item)` for every item, in input order, each under `limits`.

    `work` must be picklable (a module-level function or a partial of one). At most `lookahead`
    results wait for an earlier slow one, so memory stays bounded.
    """
    check_engine(engine)
    if engine == "ray":
        return _ray_map(work, items, limits, lookahead)
    return _pool_map(work, items, workers or default_workers(), limits, lookahead)


def check_engine(engine: str) -> None:
    """A one-line SeqganError for an unknown engine, or for ray when it is not installed."""
    if engine not in ENGINES:
        raise SeqganError(f"unknown engine {engine!r}: choose {' or '.join(ENGINES)}")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise SeqganError("--engine ray needs ray, which is not installed: pip install ray")


def run_capped(work: Callable[[_T], _R], item: _T, memory_bytes: int) -> _R | Abandoned:
    """`work(item)` with this process's address space capped at its present size plus
    `memory_bytes` (soft RLIMIT_AS, restored afterwards); a MemoryError abandons the item."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + memory_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        return work(item)
    except MemoryError:
        return Abandoned(IngestLimits(memory_bytes=memory_bytes).over_memory())
    except Exception as error:  # a reader's bug on one file must not end a build of thousands
        return Abandoned(f"the reader failed on it ({type(error).__name__}: {error})"[:200])
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's virtual memory size in bytes (0 where /proc is absent: the cap is then absolute)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


# --- the local process pool ----------------------------------------------------------------------


def _serve(connection: Connection, work: Callable[[Any], Any], memory_bytes: int) -> None:
    """A worker's loop: (index, item) in, (index, result) out, until None, or until the parent is
    gone (killed: its end of the pipe closed). Ctrl-C reaches the whole process group; only the
    parent acts on it and stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        connection.send(_READY)
        while (task := connection.recv()) is not None:
            index, item = task
            connection.send((index, run_capped(work, item, memory_bytes)))
    except (EOFError, OSError):
        return


class _Worker:
    """One worker process, the task it holds and that task's deadline."""

    def __init__(self, context: Any, work: Callable[[Any], Any], limits: IngestLimits) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, work, limits.memory_bytes), daemon=True)
        self.process.start()
        child.close()
        self.task: int | None = None
        self.deadline = 0.0

    def wait_until_ready(self) -> None:
        """A one-line SeqganError when the worker ends or hangs before it can take files."""
        try:
            ready = self.connection.poll(_START_SECONDS) and self.connection.recv() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.stop()
            raise SeqganError(f"a parse worker could not start ({self.died().removeprefix('its parse worker ')})")

    def give(self, index: int, item: Any, seconds: float) -> None:
        self.connection.send((index, item))
        self.task, self.deadline = index, time.monotonic() + seconds

    def died(self) -> str:
        self.process.join(_STOP_SECONDS)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit status {code}"
        return f"its parse worker died ({how})"

    def stop(self) -> None:
        if self.process.is_alive() and self.task is None:
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(_STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _pool_map(work: Callable[[_T], _R], items: Sequence[_T], workers: int, limits: IngestLimits,
              lookahead: int) -> Iterator[_R | Abandoned]:
    if not items:
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    _start_resource_tracker()
    pool: list[_Worker] = []
    done: dict[int, Any] = {}
    given = emitted = 0
    try:
        pool.extend(_Worker(context, work, limits) for _ in range(min(workers, len(items))))
        for worker in pool:
            worker.wait_until_ready()
        while emitted < len(items):
            for worker in pool:
                if worker.task is None and given < min(len(items), emitted + lookahead):
                    worker.give(given, items[given], limits.seconds)
                    given += 1
            busy = [w for w in pool if w.task is not None]
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = set(wait([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout))
            for worker in busy:
                task = worker.task
                if worker.connection in ready:
                    try:
                        _, done[task] = worker.connection.recv()
                        worker.task = None
                        continue
                    except (EOFError, OSError):
                        pass
                if worker.connection in ready or worker.process.sentinel in ready:
                    done[task] = Abandoned(worker.died())
                elif time.monotonic() >= worker.deadline:
                    done[task] = Abandoned(limits.over_time())
                else:
                    continue
                worker.stop()
                pool[pool.index(worker)] = replacement = _Worker(context, work, limits)
                replacement.wait_until_ready()
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1
    finally:
        for worker in pool:
            worker.stop()


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (every forkserver or spawn start needs it) with a
    stderr that has a descriptor: the tracker hands its child this process's stderr by descriptor,
    and a terminal app that captures stderr (Textual's capture has none: -1) would make every
    worker fail to start. The real stderr stands in while the tracker starts."""
    try:
        usable = sys.stderr.fileno() >= 0
    except (AttributeError, ValueError, OSError):
        usable = True  # no descriptor at all: the tracker leaves it out by itself
    if usable or sys.__stderr__ is None:
        resource_tracker.ensure_running()
        return
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured


def stop_helper_processes() -> None:
    """Stop the fork server and the resource tracker that worker starts need, and wait for them, so
    that a process ending on Ctrl-C leaves no child running even for the moment they take to notice
    it is gone. Only once no worker runs: the tracker lasts as long as any process that holds it.
    These are multiprocessing's own (private) stops: a Python without them leaves the two helpers
    to notice by themselves, a moment later."""
    for helper in (getattr(forkserver, "_forkserver", None), getattr(resource_tracker, "_resource_tracker", None)):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


# --- Ray -----------------------------------------------------------------------------------------


def _ray_map(work: Callable[[_T], _R], items: Sequence[_T], limits: IngestLimits,
             lookahead: int) -> Iterator[_R | Abandoned]:
    """The same tasks as Ray tasks on the cluster `ray.init()` finds (RAY_ADDRESS, else a local one).

    A task is given at least `limits.seconds` from the moment its result is awaited, then cancelled.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayError

    if not ray.is_initialized():
        ray.init()
    task = ray.remote(max_retries=0)(run_capped)
    pending = deque(task.remote(work, item, limits.memory_bytes) for item in items[:lookahead])
    for index in range(len(items)):
        if index + lookahead < len(items):
            pending.append(task.remote(work, items[index + lookahead], limits.memory_bytes))
        reference = pending.popleft()
        try:
            yield ray.get(reference, timeout=limits.seconds)
        except GetTimeoutError:
            ray.cancel(reference, force=True)
            yield Abandoned(limits.over_time())
        except RayError as error:
            yield Abandoned(f"its Ray task failed ({type(error).__name__})")
