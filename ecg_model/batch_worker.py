"""A worker of ``batch.clean_in_processes``: pickled images in on stdin, analyses out on stdout.

The first message is (PipelineConfig, keep_stages), answered by ``batch.READY`` once the
imports are done; each message after it is an image (a path or the file's bytes), answered by
one ``Analysis``. End of input ends the worker.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from typing import IO, Any

_END = object()


def _read_jobs(stdin: IO[bytes], jobs: "queue.Queue[Any]") -> None:
    """Takes every message off the pipe as it comes, so that the caller's next image never
    waits for this worker to finish writing its result (both would wait for ever)."""
    try:
        while True:
            jobs.put(pickle.load(stdin))
    except (EOFError, OSError, pickle.UnpicklingError):
        jobs.put(_END)


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

    from .analysis import Analysis, clean, label_of_source
    from .batch import READY

    stdin = sys.stdin.buffer
    try:
        config, keep_stages = pickle.load(stdin)
        pickle.dump(READY, out)
        out.flush()
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return 0
    jobs: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_read_jobs, args=(stdin, jobs), daemon=True).start()
    try:
        while (source := jobs.get()) is not _END:
            try:
                result = clean(source, config, keep_stages=keep_stages)
            except Exception as exc:  # a fault of this program, not of the file: reported, the batch goes on
                traceback.print_exc()
                result = Analysis(label_of_source(source), "error",
                                  f"internal error while reading this file ({type(exc).__name__}: {exc})")
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
