"""Scoring a folder in worker processes: the same answers as one at a time, in order, and a
worker that dies costs at most its own file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from ecg_model import batch
from ecg_model.analysis import Analysis, clean
from ecg_model.imaging import PipelineConfig

from .conftest import encode

CONFIG = PipelineConfig(256, 512, 1600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, risky_printout, normal_printout) -> list[str]:
    """Ten files: eight scans (two printouts at four sizes), a broken file and a blank page."""
    import cv2

    out = tmp_path_factory.mktemp("batch")
    paths = []
    for i, (printout, _, _) in enumerate([risky_printout, normal_printout] * 4):
        rgb = printout.rgb
        scale = (1.0, 0.8, 0.7, 0.9)[i // 2]
        if scale != 1.0:
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        path = out / f"scan_{i}.png"
        path.write_bytes(encode(rgb))
        paths.append(str(path))
    (out / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (out / "blank.png").write_bytes(encode(np.full((900, 1200, 3), 250, np.uint8)))
    paths.insert(3, str(out / "broken.png"))
    paths.append(str(out / "blank.png"))
    return paths


def test_processes_score_a_folder_as_one_at_a_time(folder, tiny_weights):
    from ecg_model.predict import Predictor

    predictor = Predictor(tiny_weights)
    alone = [predictor.analyse(p, keep_stages=False) for p in folder]
    assert batch.can_use_processes(folder, 2)
    together = list(predictor.analyse_many(folder, jobs=2, keep_stages=False))
    assert [a.path for a in together] == folder
    assert [a.status for a in together] == [a.status for a in alone]
    assert [a.status for a in together].count("ok") == 8
    assert together[3].status == "error" and "broken.png" in together[3].path and together[3].message
    assert together[-1].status == "rejected" and together[-1].message.startswith("cannot assess")
    for a, b in zip(together, alone):
        if a.status == "ok":
            assert a.risk == pytest.approx(b.risk, abs=1e-6)
            assert a.risk_band == pytest.approx(b.risk_band, abs=1e-6)
            assert a.deskew_deg == pytest.approx(b.deskew_deg, abs=1e-9)
            assert a.label == b.label and a.timings_ms["total"] >= a.timings_ms["model"]


def test_few_images_or_file_objects_stay_in_this_process(folder):
    import io

    assert not batch.can_use_processes(folder[: batch.MIN_IMAGES - 1], 2)
    assert not batch.can_use_processes(folder, 1)
    assert not batch.can_use_processes([io.BytesIO(b"x")] * 10, 2)
    assert batch.can_use_processes([Path(p) for p in folder[:8]] + [b"bytes"], 2)


def test_a_killed_worker_is_replaced_and_its_image_read_again(folder):
    workers = batch.start_workers(2, CONFIG)
    # The first worker dies as the batch starts (as under the out-of-memory killer).
    os.kill(workers[0].proc.pid, signal.SIGKILL)
    workers[0].proc.wait()
    got = list(batch.clean_in_processes(folder[:6], workers))
    assert [a.path for a in got] == folder[:6]
    want = [clean(p, CONFIG, keep_stages=False) for p in folder[:6]]
    assert [a.status for a in got] == [a.status for a in want]
    for a, b in zip(got, want):
        if a.status == "ok":
            np.testing.assert_array_equal(a.pipeline.model_input, b.pipeline.model_input)
    assert all(w.proc.poll() is not None for w in workers), "workers are stopped at the end"


def test_ctrl_c_leaves_workers_to_their_caller(folder, capfd):
    """Ctrl-C reaches the whole process group: the workers go on (the caller decides, and closes
    them), and they end cleanly (no interpreter abort over their reader thread)."""
    workers = batch.start_workers(2, CONFIG)
    for w in workers:
        os.kill(w.proc.pid, signal.SIGINT)
    got = list(batch.clean_in_processes(folder[:5], workers))
    assert [a.status for a in got] == ["ok", "ok", "ok", "error", "ok"]
    assert [w.proc.returncode for w in workers] == [0, 0]
    assert "Fatal Python error" not in capfd.readouterr().err


def test_a_file_that_kills_every_worker_is_refused_alone(folder, monkeypatch):
    """A file whose reading kills its worker twice is refused with the reason; the rest go on."""
    deadly = folder[1]
    submit = batch._Worker.submit

    def submit_or_die(self, source):
        ok = submit(self, source)
        if source == deadly:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return ok

    monkeypatch.setattr(batch._Worker, "submit", submit_or_die)
    got = list(batch.clean_in_processes(folder[:5], batch.start_workers(2, CONFIG)))
    assert [a.path for a in got] == folder[:5]
    assert got[1].status == "error" and got[1].message == batch.CRASHED
    assert [a.status for a in got[:1] + got[2:]] == ["ok", "ok", "error", "ok"]


def test_workers_that_cannot_start_leave_the_work_to_threads(folder, tiny_weights, monkeypatch):
    from ecg_model.predict import Predictor

    monkeypatch.setattr(batch.sys, "executable", "/bin/false")
    with pytest.raises(batch.WorkerStartError):
        batch.start_workers(2, CONFIG)
    got = list(Predictor(tiny_weights).analyse_many(folder, jobs=2, keep_stages=False))
    assert [a.status for a in got].count("ok") == 8 and isinstance(got[0], Analysis)


def test_a_silent_worker_is_given_up(tmp_path, monkeypatch):
    """A worker that never says it has started (hung in its imports) is not waited for forever."""
    import time

    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    monkeypatch.setattr(batch.sys, "executable", str(hang))
    monkeypatch.setattr(batch, "START_TIMEOUT_S", 0.5)
    t0 = time.perf_counter()
    with pytest.raises(batch.WorkerStartError):
        batch.start_workers(1, CONFIG)
    assert time.perf_counter() - t0 < 10.0


def test_a_worker_survives_a_programming_error_with_a_message(folder):
    """An exception that is not a bad file's (here: a model input of no rows, which OpenCV
    refuses) comes back as that image's error, and the same worker answers the next image."""
    config = PipelineConfig(0, 512, 1600)
    workers = batch.start_workers(1, config)
    pid = workers[0].proc.pid
    got = list(batch.clean_in_processes([folder[0], folder[-1]], workers))
    assert got[0].status == "error" and got[0].message.startswith("internal error while reading this file (error:")
    assert got[1].status == "rejected", "the blank page is still read, by the same worker"
    assert workers[0].proc.pid == pid
