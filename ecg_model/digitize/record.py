"""One image digitised to files: the record ``python -m ecg_model digitize`` prints (as JSON with
``--json``), whether the image was read here or in a worker process (no torch here)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import ECGImageError
from ..io import load_image


def failed_record(path: str, message: str, status: str = "error") -> dict[str, Any]:
    return {"path": path, "status": status, "message": message, "files": []}


def digitize_record(path: str, stem: str, out_dir: str | Path, work_width: int | None = None) -> dict[str, Any]:
    """Digitise the image at ``path``, write ``<stem>.csv`` and its WFDB record into ``out_dir``,
    and describe it: status, layout, leads with their flags, ST per lead, the files, timings.
    Never raises for a bad image (status "error" or "rejected" with the reason)."""
    from . import digitize, measure_st, read_page
    from .export import record_name, write_csv, write_wfdb

    record: dict[str, Any] = {"path": path, "status": "ok", "message": "ok", "files": []}
    t0 = time.perf_counter()
    try:
        loaded = load_image(path)
        t1 = time.perf_counter()
        result = read_page(loaded, work_width)
        t2 = time.perf_counter()
        dig = digitize(result)
        st = measure_st(dig.matrix(), dig.fs)
        t3 = time.perf_counter()
    except ECGImageError as exc:
        return failed_record(path, str(exc), exc.kind)
    name = record_name(stem)
    out = Path(out_dir)
    files = [write_csv(dig, out / f"{name}.csv"), *write_wfdb(dig, out, name)]
    record.update(dig.to_json())
    record["st"] = st.to_json()
    record["files"] = [str(f) for f in files]
    record["timings_ms"] = {"decode": round((t1 - t0) * 1000, 1), "pipeline": round((t2 - t1) * 1000, 1),
                            "digitize": round((t3 - t2) * 1000, 1), "total": round((t3 - t0) * 1000, 1)}
    return record
