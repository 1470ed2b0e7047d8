"""Boundaries: the Train page reads datasets only under its roots; the app writes only under
runs/ and weights/; the server keeps XSRF protection and an upload limit."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from ecg_model.roots import confine, dataset_candidates

from .conftest import ROOT


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    """root/ds (a dataset), outside/secret (a dataset outside the root), and a link inside the
    root that points at it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    for base in (root / "ds", outside / "secret"):
        for cls in ("normal", "risky"):
            (base / cls).mkdir(parents=True)
    (root / "link_out").symlink_to(outside / "secret", target_is_directory=True)
    (root / "ds" / "deep_link").symlink_to(outside, target_is_directory=True)
    return {"root": root, "outside": outside}


def test_candidates_stay_inside_the_root(tree):
    found = dataset_candidates([tree["root"]])
    assert tree["root"].resolve() / "ds" in found
    assert all(tree["outside"].resolve() not in p.parents and p != tree["outside"].resolve() for p in found), found
    assert tree["outside"].resolve() / "secret" not in found


@pytest.mark.parametrize("attempt", ["dotdot", "absolute", "link", "deep_link", "file"])
def test_confine_refuses_every_way_out(tree, attempt):
    root, outside = tree["root"], tree["outside"]
    path = {"dotdot": root / "ds" / ".." / ".." / "outside" / "secret",
            "absolute": outside.resolve() / "secret",
            "link": root / "link_out",
            "deep_link": root / "ds" / "deep_link" / "secret",
            "file": root / "ds" / "normal" / "x.png"}[attempt]
    if attempt == "file":
        path.write_bytes(b"x")
    with pytest.raises(ValueError) as err:
        confine(path, [root])
    assert "outside the data folders" in str(err.value) or "not a folder" in str(err.value)


def test_confine_accepts_a_dataset_inside(tree):
    assert confine(tree["root"] / "ds" / ".." / "ds", [tree["root"]]) == (tree["root"] / "ds").resolve()


def test_training_jobs_write_under_runs_only(tmp_path):
    from ecg_model.jobs import JobSettings

    run_dir = tmp_path / "runs" / "20260101-000000-abcd"
    cmd = JobSettings(ecg_root="/data/x", class_to_idx={"normal": 0, "risky": 1}).command(run_dir)
    written = [cmd[cmd.index(flag) + 1] for flag in ("--out", "--progress", "--cache-dir")]
    for path in written:
        assert (tmp_path / "runs") in Path(path).parents, path


def test_server_config_keeps_xsrf_and_an_upload_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 200
    assert config["browser"]["gatherUsageStats"] is False


def test_no_user_file_is_unpickled(tmp_path):
    """Weights are read with weights_only=True: a pickle that would run code is refused."""
    import pickle

    from ecg_model.errors import WeightsError
    from ecg_model.weights import load_checkpoint

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state_dict": Evil()}))
    with pytest.raises(WeightsError):
        load_checkpoint(path)
    assert not marker.exists()
