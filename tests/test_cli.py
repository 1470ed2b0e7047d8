"""The command-line contract of DESIGN.md, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from .conftest import ROOT


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecg_model", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, risky_png, photo_sample) -> list[Path]:
    d = tmp_path_factory.mktemp("cli")
    photo = d / "photo.jpg"
    photo.write_bytes(photo_sample.encoded)
    broken = d / "broken.jpg"
    broken.write_bytes(photo_sample.encoded[:3000])
    text = d / "notes.png"
    text.write_text("hello, not an image")
    return [risky_png, broken, text, photo]


def test_every_command_has_help():
    for cmd in ("predict", "preprocess", "evaluate", "synth", "train", "bench"):
        res = run_cli(cmd, "--help")
        assert res.returncode == 0 and "usage" in res.stdout.lower(), cmd


def test_predict_json_one_line_per_input_in_order(inputs, tiny_weights):
    res = run_cli("predict", *map(str, inputs), "--weights", str(tiny_weights), "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in inputs]
    good, broken, text, photo = lines
    for line in lines:
        assert set(line) >= {"path", "status", "risk", "label", "message", "deskew_deg", "timings_ms"}
        assert "total" in line["timings_ms"] and line["message"]
    assert good["status"] == "ok" and 0.0 <= good["risk"] <= 1.0 and good["label"] in ("normal", "risky")
    assert abs(good["deskew_deg"]) < 0.3
    assert broken["status"] == "error" and broken["risk"] is None and "truncated" in broken["message"]
    assert text["status"] == "error" and "not an image" in text["message"]
    assert photo["status"] == "ok"
    assert abs(photo["deskew_deg"] - 7.0) < 1.0  # the fixture photo is turned 7 degrees counter-clockwise


def test_predict_threads_give_the_sequential_answers(inputs, tiny_weights):
    # Several images at once (eight files: worker processes) must change nothing but the wall time.
    one = run_cli("predict", *map(str, inputs * 2), "--weights", str(tiny_weights), "--json", "--jobs", "1")
    many = run_cli("predict", *map(str, inputs * 2), "--weights", str(tiny_weights), "--json", "--jobs", "3")
    assert one.returncode == 0 and many.returncode == 0, many.stderr
    a = [json.loads(line) for line in one.stdout.splitlines()]
    b = [json.loads(line) for line in many.stdout.splitlines()]
    assert len(a) == len(b) == 2 * len(inputs)
    for x, y in zip(a, b):
        assert (x["path"], x["status"], x["label"], x["message"]) == (y["path"], y["status"], y["label"], y["message"])
        assert x["risk"] is None and y["risk"] is None or abs(x["risk"] - y["risk"]) < 1e-6


def test_predict_folder_of_hostile_files_in_worker_processes(inputs, tiny_weights, tmp_path):
    """A folder large enough for worker processes, mostly hostile files: one line each, in the
    folder's order, the same answers as one at a time, and overlays for the pages that pass."""
    import struct
    import zlib

    import cv2
    import numpy as np

    from .conftest import encode

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    folder = tmp_path / "in"
    folder.mkdir()
    for p in inputs:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    bomb = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bomb)
                                      + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    (folder / "tiny.png").write_bytes(encode(np.zeros((3, 3, 3), np.uint8)))
    (folder / "strip.png").write_bytes(encode(np.full((200, 1400, 3), 255, np.uint8)))
    (folder / "blank.png").write_bytes(encode(np.full((900, 1200, 3), 250, np.uint8)))
    cv2.imwrite(str(folder / "fake.jpg.png"), np.zeros((1, 1), np.uint8))
    cams = tmp_path / "cams"
    many = run_cli("predict", str(folder), "--weights", str(tiny_weights), "--json", "--cam-dir", str(cams))
    one = run_cli("predict", str(folder), "--weights", str(tiny_weights), "--json", "--jobs", "1")
    assert many.returncode == 0 and one.returncode == 0, many.stderr
    b = [json.loads(line) for line in many.stdout.splitlines()]
    a = [json.loads(line) for line in one.stdout.splitlines()]
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 10 and [Path(x["path"]).name for x in b] == names
    for x, y in zip(a, b):
        assert (x["path"], x["status"], x["label"], x["message"]) == (y["path"], y["status"], y["label"], y["message"])
        assert x["risk"] is None and y["risk"] is None or abs(x["risk"] - y["risk"]) < 1e-6
        assert y["message"] and "Traceback" not in y["message"]
    status = {Path(x["path"]).name: x["status"] for x in b}
    assert status["risky.png"] == status["photo.jpg"] == "ok"
    assert status["empty.jpg"] == status["bomb.png"] == status["notes.png"] == status["broken.jpg"] == "error"
    assert status["tiny.png"] == status["strip.png"] == status["blank.png"] == "rejected"
    assert sorted(f.name for f in cams.iterdir()) == ["photo_cam.png", "photo_cam_on_photo.png",
                                                      "risky_cam.png", "risky_cam_on_photo.png"]
    assert "Traceback" not in many.stderr


def test_predict_writes_cam_overlays(inputs, tiny_weights, tmp_path):
    res = run_cli("predict", str(inputs[0]), "--weights", str(tiny_weights), "--json", "--cam-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / f"{inputs[0].stem}_cam.png").stat().st_size > 1000
    assert (tmp_path / f"{inputs[0].stem}_cam_on_photo.png").exists()


def test_preprocess_writes_stages(inputs, tmp_path):
    res = run_cli("preprocess", str(inputs[3]), str(inputs[2]), "--out", str(tmp_path), "--json")
    assert res.returncode == 0, res.stderr
    photo, text = (json.loads(line) for line in res.stdout.splitlines())
    assert photo["status"] == "ok" and len(photo["stages"]) >= 5
    assert all(Path(s).exists() for s in photo["stages"])
    assert len(photo["paper_corners"]) == 4 and photo["px_per_mm"] > 3
    assert set(photo) >= {"path", "status", "message", "deskew_deg", "paper_corners", "px_per_mm", "stages", "timings_ms"}
    # px_per_mm refers to the rectified image, whose width is given (a photo's page: 1600 px).
    rectified = next(s for s in photo["stages"] if "rectified" in Path(s).name)
    assert photo["work_width"] == 1600 == cv2.imread(rectified).shape[1]
    assert text["status"] == "error" and text["stages"] == []


def test_synth_and_evaluate(tmp_path, tiny_weights):
    res = run_cli("synth", str(tmp_path / "s"), "--n", "6", "--seed", "4", "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "s" / "normal").iterdir())) == 3
    truth = [json.loads(line) for line in (tmp_path / "s" / "truth.jsonl").read_text().splitlines()]
    assert len(truth) == 6 and {"label", "rotation_deg", "paper_corners", "px_per_mm", "layout"} <= set(truth[0])
    res = run_cli("evaluate", str(tmp_path / "s"), "--weights", str(tiny_weights), "--json",
                  "--class-map", "NORMAL=0,Risky=1")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("n", "n_rejected", "auroc", "auroc_ci95", "accuracy", "sensitivity", "specificity", "ece",
                "threshold", "per_folder"):
        assert key in out
    assert out["n"] == 6 and set(out["per_folder"]) == {"normal", "risky"}
    assert out["per_folder"]["normal"]["n"] == 3


def test_bad_usage_is_one_line_and_exit_2(tmp_path):
    res = run_cli("predict")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    res = run_cli("train", str(tmp_path), "--img-size", "abc")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "img-size" in res.stderr
    res = run_cli("predict", str(tmp_path / "x.png"), "--weights", str(tmp_path / "missing.pt"))
    assert res.returncode == 2 and "not found" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("evaluate", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_train_writes_loadable_weights(synth_dataset, tmp_path):
    out = tmp_path / "run" / "model.pt"
    res = run_cli("train", str(synth_dataset), "--epochs", "1", "--batch-size", "4", "--out", str(out),
                  "--photo-aug", "0", "--val-fraction", "0.25", "--test-fraction", "0.25", "--device", "cpu",
                  "--cache-dir", str(tmp_path / "cache"), "--workers", "1", "--quiet", timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    from ecg_model.weights import load_model

    model, ckpt = load_model(out)
    assert ckpt["metrics"]["test"]["n"] >= 3
    assert (out.parent / "last.pt").exists() and (out.parent / "progress.jsonl").exists()
    events = [json.loads(line)["event"] for line in (out.parent / "progress.jsonl").read_text().splitlines()]
    assert events[0] == "start" and events[-1] == "done" and "epoch" in events
