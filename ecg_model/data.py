"""Folder datasets: class maps, de-duplication, group-aware stratified splits, cached inputs."""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import ECGImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
DEFAULT_CLASS_MAP = {"normal": 0, "risky": 1}
MENDELEY_CLASS_MAP = {"Normal": 0, "MI": 1, "History_MI": 1, "Abnormal_HB": 1}


def parse_class_map(text: str) -> dict[str, int]:
    """``"Normal=0,MI=1"`` -> {"Normal": 0, "MI": 1}; labels must be 0 or 1.

    Raises:
        ValueError: naming the part that could not be read.
    """
    mapping: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"class map entry {part!r} is not NAME=LABEL (for example normal=0,risky=1)")
        name, label = (s.strip() for s in part.split("=", 1))
        if label not in ("0", "1"):
            raise ValueError(f"class map entry {part!r}: the label must be 0 (normal) or 1 (risky)")
        if not name:
            raise ValueError(f"class map entry {part!r} has no folder name")
        mapping[name] = int(label)
    if not mapping:
        raise ValueError("the class map is empty; give folders as NAME=LABEL,...")
    return mapping


def format_class_map(mapping: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in mapping.items())


@dataclass
class ImageRecord:
    """One distinct image of a dataset."""

    path: str
    folder: str  # the class folder's name as on disk
    label: int
    sha1: str
    duplicates: list[str] = field(default_factory=list)  # other files with the same content


@dataclass
class DatasetScan:
    """What a dataset folder holds, before any image is decoded."""

    root: str
    records: list[ImageRecord]
    folders: dict[str, int]  # folder on disk -> label
    skipped_folders: list[str]
    missing_folders: list[str]
    n_files: int
    n_exact_duplicates: int

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.folder for r in self.records))

    def label_counts(self) -> dict[int, int]:
        return dict(Counter(r.label for r in self.records))


def _file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def scan_dataset(root: str | Path, class_map: dict[str, int] | None = None) -> DatasetScan:
    """Find the images under ``root/<class folder>/`` (searched recursively).

    Folder names match the class map case-insensitively; folders not in the map are skipped.
    Files with identical bytes are kept once (the Mendeley set repeats many files).

    Raises:
        ValueError: when the root is missing or no mapped folder holds an image.
    """
    class_map = class_map or DEFAULT_CLASS_MAP
    root_path = Path(root)
    if not root_path.is_dir():
        raise ValueError(f"dataset folder not found: {root_path}")
    wanted = {k.lower(): v for k, v in class_map.items()}
    folders: dict[str, int] = {}
    skipped: list[str] = []
    for entry in sorted(root_path.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        if entry.name.lower() in wanted:
            folders[entry.name] = wanted[entry.name.lower()]
        else:
            skipped.append(entry.name)
    found = {f.lower() for f in folders}
    missing = [k for k in class_map if k.lower() not in found]
    by_hash: dict[str, ImageRecord] = {}
    n_files = 0
    for folder, label in folders.items():
        for dirpath, dirnames, filenames in os.walk(root_path / folder, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.lower().endswith(IMAGE_SUFFIXES) or name.startswith("."):
                    continue
                path = Path(dirpath) / name
                if path.is_symlink() or not path.is_file():
                    continue
                n_files += 1
                digest = _file_sha1(path)
                if digest in by_hash:
                    by_hash[digest].duplicates.append(str(path))
                    continue
                by_hash[digest] = ImageRecord(str(path), folder, label, digest)
    records = list(by_hash.values())
    if not records:
        raise ValueError(
            f"no images found under {root_path} in folders {sorted(class_map)} "
            f"(folders present: {sorted(folders) + skipped or 'none'})"
        )
    return DatasetScan(str(root_path), records, folders, skipped, missing, n_files, n_files - len(records))


def perceptual_hash(model_input: np.ndarray) -> np.ndarray:
    """2048-bit difference hash of the cleaned trace image (robust to re-encoding and scale)."""
    import cv2

    small = cv2.resize(model_input.astype(np.float32), (65, 32), interpolation=cv2.INTER_AREA)
    return (small[:, 1:] > small[:, :-1]).ravel()


def near_duplicate_groups(hashes: Sequence[np.ndarray], max_distance: float = 0.06) -> list[int]:
    """Group index per item: items whose hashes differ in under ``max_distance`` of bits share one."""
    n = len(hashes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n:
        mat = np.stack(hashes).astype(np.uint8)
        bits = mat.shape[1]
        for i in range(n):
            dist = np.count_nonzero(mat[i + 1:] != mat[i], axis=1) / bits
            for j in np.nonzero(dist < max_distance)[0]:
                a, b = find(i), find(i + 1 + int(j))
                if a != b:
                    parent[b] = a
    return [find(i) for i in range(n)]


def group_ids(records: Sequence[ImageRecord], group_regex: str | None,
              extra_groups: Sequence[int] | None = None) -> list[str]:
    """The group of each record: one group stays on one side of a split.

    With ``group_regex``, the regex's first group (or whole match) on the file name names the
    group (for example a patient ID); near-duplicate groups are merged in as well.
    """
    pattern = re.compile(group_regex) if group_regex else None
    ids = []
    for i, rec in enumerate(records):
        key = rec.sha1
        if pattern is not None:
            m = pattern.search(Path(rec.path).name)
            if m:
                key = "re:" + (m.group(1) if m.groups() else m.group(0))
        ids.append(key)
    if extra_groups is not None:
        # Union the regex groups with the near-duplicate groups.
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        by_dup: dict[int, str] = {}
        for key, dup in zip(ids, extra_groups):
            if dup in by_dup:
                a, b = find(by_dup[dup]), find(key)
                if a != b:
                    parent[b] = a
            else:
                by_dup[dup] = key
        ids = [find(k) for k in ids]
    return ids


def stratified_group_split(strata: Sequence[str], groups: Sequence[str], val_fraction: float,
                           seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): whole groups go to one side, each stratum split near ``val_fraction``.

    Groups are assigned greedily, largest first, to whichever side is furthest below its
    target for the group's stratum, so small strata (19 MI images) still reach validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("the validation fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    group_list = list(members)
    rng.shuffle(group_list)
    group_list.sort(key=lambda g: -len(members[g]))
    total = Counter(strata)
    val_count: Counter[str] = Counter()
    val_idx: list[int] = []
    train_idx: list[int] = []
    for g in group_list:
        idx = members[g]
        stratum = Counter(strata[i] for i in idx).most_common(1)[0][0]
        target = val_fraction * total[stratum]
        if val_count[stratum] + len(idx) / 2.0 <= target:
            val_idx.extend(idx)
            for i in idx:
                val_count[strata[i]] += 1
        else:
            train_idx.extend(idx)
    return sorted(train_idx), sorted(val_idx)


def balanced_sample_weights(labels: Iterable[int]) -> np.ndarray:
    """Per-sample weights that give each label the same total weight."""
    arr = np.asarray(list(labels))
    counts = Counter(arr.tolist())
    return np.array([1.0 / counts[v] for v in arr.tolist()], dtype=np.float64)


class InputCache:
    """Model inputs of preprocessed images on disk, keyed by content, pipeline and size.

    Preprocessing a printout takes about half a second; training reads each one every epoch.
    """

    def __init__(self, directory: str | Path, tag: str) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tag = tag

    def path(self, key: str) -> Path:
        return self.dir / f"{key}_{self.tag}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        p = self.path(key)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError, EOFError):
            return None

    def put(self, key: str, **arrays: np.ndarray) -> None:
        p = self.path(key)
        tmp = p.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, p)

    def get_or_make(self, key: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        cached = self.get(key)
        if cached is not None:
            return cached
        arrays = make()
        self.put(key, **arrays)
        return arrays


def refused_entry(reason: str) -> dict[str, np.ndarray]:
    """The cache entry of an image the pipeline could not use: an empty input and the reason."""
    return {"x": np.zeros((0,), np.float16), "reason": np.array(reason)}


def input_entry(image: Any, input_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """Clean one image (a path, a ``LoadedImage`` or an RGB array) into its cache entry: the
    model input, or an empty array and the reason the image was refused."""
    from .imaging import PipelineConfig, run_pipeline
    from .io import load_image

    try:
        loaded = load_image(image) if isinstance(image, (str, Path)) else image
        result = run_pipeline(loaded, PipelineConfig(*input_hw), keep_stages=False)
    except (ECGImageError, ValueError) as exc:
        return refused_entry(str(exc))
    if result.model_input is None or not result.gate.ok:
        return refused_entry(result.gate.message)
    return {"x": result.model_input.astype(np.float16), "reason": np.array("")}
