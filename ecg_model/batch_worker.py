"""A worker of ``batch.run_in_processes``: pickled jobs in on stdin, answers out on stdout.

The first message is the task (``batch.clean_task`` or ``batch.digitize_task``), answered by
``batch.READY`` once the imports are done; each message after it is a job (an image for
"clean", a path and a record name for "digitize"), answered by one ``Analysis`` or record.
End of input ends the worker.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from typing import IO, Any, Callable

_END = object()


def _read_jobs(stdin: IO[bytes], jobs: "queue.Queue[Any]") -> None:
    """Takes every message off the pipe as it comes, so that the caller's next image never
    waits for this worker to finish writing its result (both would wait for ever)."""
    try:
        while True:
            jobs.put(pickle.load(stdin))
    except (EOFError, OSError, pickle.UnpicklingError):
        jobs.put(_END)


def _job_runner(kind: str, settings: tuple[Any, ...]) -> Callable[[Any], Any]:
    """The function that answers each job of this task; a fault of this program on one job
    (not of the file: those are refusals already) is reported and becomes that job's error."""
    if kind == "clean":
        from .analysis import Analysis, clean, label_of_source

        config, keep_stages = settings

        def run(source: Any) -> Any:
            return clean(source, config, keep_stages=keep_stages)

        def failed(source: Any, message: str) -> Any:
            return Analysis(label_of_source(source), "error", message)
    elif kind == "digitize":
        from .digitize.record import digitize_record, failed_record

        out_dir, width = settings

        def run(job: Any) -> Any:
            return digitize_record(job[0], job[1], out_dir, width)

        def failed(job: Any, message: str) -> Any:
            return failed_record(job[0], message)
    else:
        raise ValueError(f"unknown worker task {kind!r}")

    def guarded(job: Any) -> Any:
        try:
            return run(job)
        except Exception as exc:  # a fault of this program, not of the file: reported, the batch goes on
            traceback.print_exc()
            return failed(job, f"internal error while reading this file ({type(exc).__name__}: {exc})")

    return guarded


def main() -> int:
    # Ctrl-C reaches the whole process group: the caller handles it and closes the pipes, which
    # ends this worker (an interrupt here could stop it mid-result).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Results go to the original stdout; anything a library prints goes to stderr instead of
    # into the stream of results.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    import cv2

    cv2.setNumThreads(1)  # one worker per core

    from .batch import READY

    stdin = sys.stdin.buffer
    try:
        kind, settings = pickle.load(stdin)
        work = _job_runner(kind, settings)
        pickle.dump(READY, out)
        out.flush()
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return 0
    jobs: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_read_jobs, args=(stdin, jobs), daemon=True).start()
    try:
        while (job := jobs.get()) is not _END:
            result = work(job)
            pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    return 0


if __name__ == "__main__":
    code = main()
    # Straight out: the reader thread may still be inside a read of stdin, and an interpreter
    # shutdown waiting for that buffer's lock aborts with a fatal error.
    sys.stderr.flush()
    os._exit(code)
