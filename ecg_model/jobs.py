"""Training jobs for the app: launched as their own process, with all state on disk.

A run folder ``runs/<id>/`` holds ``job.json`` (settings, process id), ``progress.jsonl``
(events from the trainer), ``log.txt`` (its stderr), ``last.pt`` (resumable state) and, once
the run has finished and been evaluated, ``model.pt``. Because nothing lives in memory, a
job survives page reloads and app restarts.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import format_class_map
from .weights import atomic_torch_save, load_checkpoint

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNS_DIR = PROJECT_ROOT / "runs"
_RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


@dataclass
class JobSettings:
    """What the Train page asks for (the seed's names in comments)."""

    ecg_root: str  # ECG_ROOT
    class_to_idx: dict[str, int]  # CLASS_TO_IDX
    img_size: tuple[int, int] = (256, 512)  # IMG_SIZE
    batch_size: int = 32  # BATCH_SIZE
    learning_rate: float = 2e-3  # LEARNING_RATE
    num_epochs: int = 30  # NUM_EPOCHS
    photo_aug: int = 1
    retemplate_aug: int = 0
    device: str = "auto"
    seed: int = 0
    extra_args: list[str] = field(default_factory=list)

    def command(self, run_dir: Path) -> list[str]:
        return [
            sys.executable, "-m", "ecg_model", "train", self.ecg_root,
            "--class-map", format_class_map(self.class_to_idx),
            "--img-size", f"{self.img_size[0]}x{self.img_size[1]}",
            "--batch-size", str(self.batch_size), "--lr", repr(float(self.learning_rate)),
            "--epochs", str(self.num_epochs), "--photo-aug", str(self.photo_aug),
            "--retemplate-aug", str(self.retemplate_aug),
            "--device", self.device, "--seed", str(self.seed),
            "--out", str(run_dir / "model.pt"), "--progress", str(run_dir / "progress.jsonl"),
            # The cleaned-input cache beside the runs: the app writes under runs/ and weights/ only.
            "--cache-dir", str(run_dir.parent / ".cache" / "inputs"), *self.extra_args,
        ]


@dataclass
class RunInfo:
    run_id: str
    path: Path
    status: str  # running | done | failed | cancelled | interrupted
    settings: dict[str, Any]
    started: float
    events: list[dict[str, Any]]

    @property
    def weights(self) -> Path | None:
        p = self.path / "model.pt"
        return p if self.status == "done" and p.exists() else None

    def last(self, event: str) -> dict[str, Any] | None:
        for e in reversed(self.events):
            if e.get("event") == event:
                return e
        return None

    def epochs(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "epoch"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A finished child that was not reaped is a zombie: not alive for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def launch(settings: JobSettings, runs_dir: Path = RUNS_DIR, threads: int | None = None) -> RunInfo:
    """Start a training process in a new session; returns at once."""
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    env = dict(os.environ)
    # Leave a core to the app so the page stays responsive while the job runs.
    n = threads or max(1, (os.cpu_count() or 2) - 1)
    env.update({"OMP_NUM_THREADS": str(n), "ECG_TRAIN_THREADS": str(n), "PYTHONUNBUFFERED": "1"})
    cmd = settings.command(run_dir) + ["--workers", str(n), "--quiet"]
    log = open(run_dir / "log.txt", "wb")
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    log.close()
    job = {"run_id": run_id, "pid": proc.pid, "command": cmd, "started": time.time(),
           "settings": {**settings.__dict__, "img_size": list(settings.img_size)}}
    _write_json(run_dir / "job.json", job)
    return load_run(run_dir)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "progress.jsonl"
    events: list[dict[str, Any]] = []
    if not path.exists():
        return events
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written right now
    return events


def load_run(run_dir: Path) -> RunInfo:
    job = json.loads((run_dir / "job.json").read_text())
    events = read_events(run_dir)
    kinds = {e.get("event") for e in events}
    if "done" in kinds and (run_dir / "model.pt").exists():
        status = "done"
    elif "cancelled" in kinds or (run_dir / "cancel_requested").exists() and not _pid_alive(int(job["pid"])):
        status = "cancelled"
    elif "error" in kinds:
        status = "failed"
    elif _pid_alive(int(job["pid"])):
        status = "running"
    else:
        status = "interrupted"  # the process died without a word (killed, machine restarted)
    return RunInfo(job["run_id"], run_dir, status, job.get("settings", {}), float(job.get("started", 0)), events)


def list_runs(runs_dir: Path = RUNS_DIR) -> list[RunInfo]:
    """All runs, newest first; folders that are not runs are ignored."""
    if not runs_dir.is_dir():
        return []
    runs = []
    for d in runs_dir.iterdir():
        if d.is_dir() and _RUN_ID.match(d.name) and (d / "job.json").exists():
            try:
                runs.append(load_run(d))
            except (OSError, ValueError, KeyError):
                continue
    return sorted(runs, key=lambda r: r.started, reverse=True)


def cancel(run: RunInfo) -> bool:
    """Ask a running job to stop (SIGTERM to its process group); True if it was running."""
    job = json.loads((run.path / "job.json").read_text())
    pid = int(job["pid"])
    (run.path / "cancel_requested").write_text(str(time.time()))
    if not _pid_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def resume(run: RunInfo) -> RunInfo:
    """Restart a cancelled or interrupted run from its ``last.pt`` in a new run folder."""
    last = run.path / "last.pt"
    if not last.exists():
        raise ValueError("this run saved no epoch yet, so there is nothing to resume; start a new run")
    s = dict(run.settings)
    settings = JobSettings(ecg_root=s["ecg_root"], class_to_idx=s["class_to_idx"], img_size=tuple(s["img_size"]),
                           batch_size=s["batch_size"], learning_rate=s["learning_rate"], num_epochs=s["num_epochs"],
                           photo_aug=s.get("photo_aug", 1), retemplate_aug=s.get("retemplate_aug", 0),
                           device=s.get("device", "auto"), seed=s.get("seed", 0),
                           extra_args=["--resume", str(last)])
    return launch(settings, run.path.parent)


def promote(run: RunInfo, target: Path) -> Path:
    """Make a finished run's weights the default: checked first, then replaced atomically.

    The previous default is kept beside it as ``<name>.previous.pt``.
    """
    if run.weights is None:
        raise ValueError("only a finished run's weights can be promoted")
    ckpt = load_checkpoint(run.weights)  # refuses damaged files before anything is replaced
    if target.exists():
        shutil.copy2(target, target.with_suffix(".previous.pt"))
    atomic_torch_save(ckpt, target)
    return target
