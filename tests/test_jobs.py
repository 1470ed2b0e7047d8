"""Training jobs as the app runs them: separate process, state on disk, cancel, resume, promote."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ecg_model import jobs
from ecg_model.weights import load_checkpoint, load_model


def _wait(run_dir: Path, statuses: set[str], timeout: float) -> jobs.RunInfo:
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = jobs.load_run(run_dir)
        if run.status in statuses:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run did not reach {statuses} in {timeout} s; log:\n" + (run_dir / "log.txt").read_text()[-3000:])


def _settings(dataset: Path, epochs: int) -> jobs.JobSettings:
    return jobs.JobSettings(ecg_root=str(dataset), class_to_idx={"normal": 0, "risky": 1}, batch_size=4,
                            num_epochs=epochs, photo_aug=0, retemplate_aug=1, device="cpu",
                            extra_args=["--val-fraction", "0.25", "--test-fraction", "0.25"])


@pytest.mark.slow
def test_job_runs_cancels_resumes_and_promotes(synth_dataset, tmp_path):
    runs_dir = tmp_path / "runs"
    run = jobs.launch(_settings(synth_dataset, 1), runs_dir, threads=1)
    assert run.status == "running"
    done = _wait(run.path, {"done", "failed", "interrupted"}, 300)
    assert done.status == "done", (done.path / "log.txt").read_text()[-2000:]
    assert done.weights is not None
    # Each training printout was also redrawn on another template and trained on.
    retemplated = [e for e in done.events if e.get("event") == "retemplated"]
    assert retemplated and retemplated[0]["n"] >= 1
    load_model(done.weights)
    assert [r.run_id for r in jobs.list_runs(runs_dir)] == [run.run_id]

    long = jobs.launch(_settings(synth_dataset, 200), runs_dir, threads=1)
    deadline = time.time() + 300
    while not jobs.load_run(long.path).epochs():
        assert time.time() < deadline, (long.path / "log.txt").read_text()[-2000:]
        time.sleep(0.5)
    assert jobs.cancel(jobs.load_run(long.path))
    cancelled = _wait(long.path, {"cancelled", "interrupted", "failed"}, 120)
    assert cancelled.status == "cancelled"
    assert not (long.path / "model.pt").exists()  # nothing half-finished is offered as weights
    state = (long.path / "last.pt")
    assert state.exists()
    resumed = jobs.resume(cancelled)
    assert resumed.path != long.path
    time.sleep(1)
    jobs.cancel(jobs.load_run(resumed.path))
    _wait(resumed.path, {"cancelled", "interrupted", "failed", "done"}, 120)
    assert any(e.get("event") == "resume" for e in jobs.load_run(resumed.path).events) or \
        (resumed.path / "log.txt").exists()

    target = tmp_path / "weights" / "default.pt"
    target.parent.mkdir()
    target.write_bytes(done.weights.read_bytes())
    jobs.promote(done, target)
    assert load_checkpoint(target)["format"] == "ecg_model/1"
    assert target.with_suffix(".previous.pt").exists()
    with pytest.raises(ValueError, match="finished"):
        jobs.promote(cancelled, target)
