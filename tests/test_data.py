"""Datasets: class maps, case-insensitive folders, duplicates, group-aware stratified splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ecg_model.data import (group_ids, near_duplicate_groups, parse_class_map, perceptual_hash, scan_dataset,
                            stratified_group_split)


def test_parse_class_map():
    assert parse_class_map("Normal=0, MI=1,History_MI=1") == {"Normal": 0, "MI": 1, "History_MI": 1}
    for bad in ("normal", "normal=2", "=1", ""):
        with pytest.raises(ValueError):
            parse_class_map(bad)


def test_scan_matches_folders_case_insensitively_and_drops_copies(tmp_path):
    for folder, files in {"NORMAL": ["a.png", "b.jpg"], "Risky": ["c.png"], "other": ["d.png"]}.items():
        (tmp_path / folder).mkdir()
        for f in files:
            (tmp_path / folder / f).write_bytes(f.encode() * 10)
    (tmp_path / "Risky" / "copy_of_c.png").write_bytes(b"c.png" * 10)
    (tmp_path / "Risky" / "readme.txt").write_text("not an image")
    scan = scan_dataset(tmp_path, {"normal": 0, "risky": 1})
    assert scan.counts() == {"NORMAL": 2, "Risky": 1}
    assert scan.n_exact_duplicates == 1
    assert scan.skipped_folders == ["other"]
    only_mi = scan_dataset(tmp_path, {"risky": 1})
    assert only_mi.label_counts() == {1: 1}
    with pytest.raises(ValueError, match="no images"):
        scan_dataset(tmp_path, {"absent": 1})
    with pytest.raises(ValueError, match="not found"):
        scan_dataset(tmp_path / "nope")


def test_symlinks_out_of_the_dataset_are_ignored(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret" * 10)
    (tmp_path / "ds" / "normal").mkdir(parents=True)
    (tmp_path / "ds" / "risky").mkdir()
    (tmp_path / "ds" / "normal" / "n.png").write_bytes(b"n" * 10)
    (tmp_path / "ds" / "risky" / "link.png").symlink_to(outside)
    (tmp_path / "ds" / "risky" / "r.png").write_bytes(b"r" * 10)
    scan = scan_dataset(tmp_path / "ds")
    names = sorted(Path(r.path).name for r in scan.records)
    assert names == ["n.png", "r.png"]


def test_split_is_stratified_and_keeps_groups_together():
    strata = ["Normal"] * 99 + ["MI"] * 19 + ["History_MI"] * 64 + ["Abnormal_HB"] * 173
    groups = [f"g{i // 2}" if i < 40 else f"s{i}" for i in range(len(strata))]  # some pairs share a group
    train, val = stratified_group_split(strata, groups, 0.25, seed=0)
    assert sorted(train + val) == list(range(len(strata)))
    val_counts = Counter(strata[i] for i in val)
    for name, total in Counter(strata).items():
        assert abs(val_counts[name] - 0.25 * total) <= 2, name
    side = {}
    for i in train:
        side.setdefault(groups[i], set()).add("train")
    for i in val:
        side.setdefault(groups[i], set()).add("val")
    assert all(len(s) == 1 for s in side.values())


def test_near_duplicates_are_grouped(normal_printout, risky_printout):
    import cv2

    from ecg_model.imaging import run_pipeline
    from ecg_model.io import load_image

    from .conftest import encode

    a = run_pipeline(normal_printout[0].rgb, keep_stages=False).model_input
    recompressed = cv2.resize(normal_printout[0].rgb, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    b = run_pipeline(load_image(encode(recompressed, ".jpg", 60)), keep_stages=False).model_input
    c = run_pipeline(risky_printout[0].rgb, keep_stages=False).model_input
    groups = near_duplicate_groups([perceptual_hash(x) for x in (a, b, c)])
    assert groups[0] == groups[1] != groups[2]


def test_group_regex_merges_patients():
    from ecg_model.data import ImageRecord

    recs = [ImageRecord(f"/d/p{p}_{k}.png", "x", 0, f"h{p}{k}") for p in (1, 2) for k in (1, 2)]
    ids = group_ids(recs, r"^(p\d+)_")
    assert ids[0] == ids[1] != ids[2] == ids[3]
    ids2 = group_ids(recs, None, extra_groups=[0, 1, 1, 2])
    assert ids2[1] == ids2[2] and len(set(ids2)) == 3
    assert np.unique(ids2).size == 3
