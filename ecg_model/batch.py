"""Many images in worker processes, answers in input order: cleaning for ``predict`` over a
folder (the model then scores in the calling process), whole digitisations for ``digitize``.

Processes, not threads: with threads the Python parts of the pipeline wait on each other and
every library's own thread pool competes for the same two cores (1 MP scans, 2 cores: 7.7-8.4
images/s with two threads, 12-15 with two single-threaded worker processes). The workers import no
torch, so they start in about 0.2 s; the model runs in the calling process.

The workers are plain ``python -m ecg_model.batch_worker`` subprocesses fed through pipes, not
a ``multiprocessing`` pool: its spawn method runs the caller's main script again in every
worker (a script without an ``if __name__ == "__main__"`` guard would start the batch again),
and its fork method can hang a process that holds torch's OpenMP threads or a web server's.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

from .analysis import Analysis, label_of_source
from .imaging import PipelineConfig
from .io import ImageSource

# Images handed to each worker ahead: the next one waits in its queue while this process
# scores the last, so the worker never idles.
IN_FLIGHT = 2

# Below this many images the workers' start (about 0.2 s) costs more than they save.
MIN_IMAGES = 8

# Read by numpy's BLAS and OpenMP when a worker starts: one thread each, as there is one
# worker per core (two BLAS threads per worker made one stage five times slower).
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

READY = "ready"
# A worker starts in about 0.2 s; one silent for this long is given up (the caller does the work).
START_TIMEOUT_S = 60.0

# What a worker does: ("clean", (PipelineConfig, keep_stages)) or ("digitize", (out_dir, work_width)).
Task = tuple[str, tuple[Any, ...]]

CRASHED = ("reading this file stopped the process that read it twice (a damaged or hostile file, "
           "or not enough memory); it was skipped")


def can_use_processes(sources: Sequence[object], jobs: int) -> bool:
    """Worth it and possible: enough images, more than one job, and every source picklable
    (file paths or bytes; an open file object cannot travel to another process)."""
    return jobs > 1 and len(sources) >= MIN_IMAGES and all(isinstance(s, (str, Path, bytes)) for s in sources)


class WorkerStartError(RuntimeError):
    """The worker processes did not start (this Python cannot run them); nothing was read."""


class _Worker:
    """One ``batch_worker`` subprocess (it reads its input in a thread of its own, so an image
    written to it while it writes a large result never blocks both sides)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        env = dict(os.environ, **_ONE_THREAD)
        # The worker imports this very package, wherever the caller found it.
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "ecg_model.batch_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        try:
            self._send(task)
        except OSError:
            pass  # a worker that died at once: ready() says so

    def ready(self) -> bool:
        """Waits for the worker's word that it has started (its imports done); False when it
        died or said nothing within ``START_TIMEOUT_S``."""
        try:
            if not select.select([self.proc.stdout], [], [], START_TIMEOUT_S)[0]:
                return False
            return pickle.load(self.proc.stdout) == READY  # type: ignore[arg-type]
        except (EOFError, pickle.UnpicklingError, OSError, ValueError):
            return False

    def _send(self, obj: Any) -> None:
        stdin: IO[bytes] = self.proc.stdin  # type: ignore[assignment]
        pickle.dump(obj, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.flush()

    def submit(self, job: Any) -> bool:
        """Hand over one job (an image, or a path and a record name); False when the worker is gone."""
        try:
            self._send(str(job) if isinstance(job, Path) else job)
            return True
        except (BrokenPipeError, OSError):
            return False

    def result(self) -> Any | None:
        """The answer to the oldest job handed over; None when the worker died on it."""
        try:
            return pickle.load(self.proc.stdout)  # type: ignore[arg-type]
        except (EOFError, pickle.UnpicklingError, OSError):
            return None

    def close(self) -> None:
        """Stop the worker: end of input when idle; a worker still busy finds its output
        closed and stops too (it would otherwise wait for a reader of its result)."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe:
                    pipe.close()
            except OSError:
                pass  # the worker is gone already (its unread input could not be flushed)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _replace(worker: _Worker) -> _Worker:
    worker.close()
    fresh = _Worker(worker.task)
    fresh.ready()
    return fresh


def clean_task(config: PipelineConfig, keep_stages: bool = False) -> Task:
    """Workers that answer an image with ``analysis.clean``'s ``Analysis``."""
    return ("clean", (config, keep_stages))


def digitize_task(out_dir: str, work_width: int | None) -> Task:
    """Workers that answer (path, record name) with ``digitize.record.digitize_record``'s dict
    (CSV and WFDB files written to ``out_dir``)."""
    return ("digitize", (out_dir, work_width))


def start_workers(n: int, task: Task | PipelineConfig, keep_stages: bool = False) -> list[_Worker]:
    """``n`` started workers for ``task`` (a ``PipelineConfig`` stands for ``clean_task``).

    Raises:
        WorkerStartError: one of them did not start (the caller does the work itself).
    """
    if isinstance(task, PipelineConfig):
        task = clean_task(task, keep_stages)
    workers: list[_Worker] = []
    try:
        workers = [_Worker(task) for _ in range(n)]  # they start side by side
        if not all([w.ready() for w in workers]):
            raise WorkerStartError("the worker processes did not start")
    except (OSError, WorkerStartError) as exc:
        for w in workers:
            w.close()
        raise WorkerStartError(str(exc)) from exc
    return workers


def run_in_processes(jobs: Sequence[Any], workers: list[_Worker],
                     crashed: Callable[[Any], Any]) -> Iterator[Any]:
    """Every job's answer from the started ``workers``, in input order; the workers are closed
    at the end.

    Job i goes to worker i mod n; each worker holds ``IN_FLIGHT`` jobs at a time, so a folder of
    any size keeps a handful of decoded images in memory. A worker that dies on a job (a decoder
    crash on a hostile file, or the kernel's out-of-memory killer) is replaced and the job tried
    once more in the new one; when that dies too, ``crashed(job)`` is its answer (a refusal with
    the reason) and the others go on.
    """
    n = len(workers)
    held: list[deque[Any]] = [deque() for _ in range(n)]  # each worker's jobs, oldest first

    def give(w: int, job: Any) -> None:
        if not workers[w].submit(job):
            # A worker that cannot take work is replaced rather than lose its jobs.
            workers[w] = _replace(workers[w])
            for j in held[w]:
                workers[w].submit(j)
            workers[w].submit(job)
        held[w].append(job)

    try:
        for i in range(min(IN_FLIGHT * n, len(jobs))):
            give(i % n, jobs[i])
        for i, job in enumerate(jobs):
            w = i % n
            result = workers[w].result()
            held[w].popleft()
            if result is None:
                # The worker died on this job: a fresh one tries it alone once more, then
                # takes the jobs the dead one held after it.
                workers[w] = _replace(workers[w])
                result = workers[w].result() if workers[w].submit(job) else None
                if result is None:
                    workers[w] = _replace(workers[w])
                    result = crashed(job)
                for j in held[w]:
                    workers[w].submit(j)
            if i + IN_FLIGHT * n < len(jobs):
                give(w, jobs[i + IN_FLIGHT * n])
            yield result
    finally:
        for worker in workers:
            worker.close()


def clean_in_processes(sources: Sequence[ImageSource], workers: list[_Worker]) -> Iterator[Analysis]:
    """``analysis.clean`` every source in workers started with ``clean_task``, in input order
    (``run_in_processes``); an image that kills two workers is refused alone."""
    return run_in_processes(sources, workers, clean_crashed)


def clean_crashed(source: ImageSource) -> Analysis:
    return Analysis(label_of_source(source), "error", CRASHED)


def maybe_in_processes(jobs: Sequence[Any], sources: Sequence[object], n: int, task: Task,
                       crashed: Callable[[Any], Any]) -> Iterator[Any] | None:
    """``run_in_processes`` over ``n`` workers started for ``task``, where it is worth it and
    possible (``can_use_processes(sources, n)``) and the workers start; None otherwise, and
    the caller does the work itself. ``sources`` are the files behind ``jobs``."""
    if not can_use_processes(sources, n):
        return None
    try:
        workers = start_workers(min(n, len(jobs)), task)
    except WorkerStartError:
        return None
    return run_in_processes(jobs, workers, crashed)
