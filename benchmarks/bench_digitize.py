"""Digitisation accuracy and speed against ground truth.

Printouts are rendered by ``synth`` from real PTB-XL records (or from the built-in simulator
when the PTB-XL subset is not there), flat and as simulated phone photos, on seeds that were
never used to tune the digitiser (seeds 5, 6, 9, 10 and 12 were; the defaults here are 101 and 102).
The photos are 1600 x 1200 px frames, as ``synth`` draws them; ``--photos-12mp`` adds 4000 x 3000
px ones (a phone's 12 megapixels, seed 103), where the page is read at the digitiser's larger width.

Signal-to-noise ratio as in the PhysioNet Challenge 2024: per lead, on the samples the page
prints, 10 log10(sum truth^2 / sum (estimate - truth)^2), no shift in time or level forgiven,
an unread sample counted as 0 mV; an image that cannot be digitised scores 0 dB on every lead
(the Challenge's rule for a missing output). ST: the same J+60 ms measurement on the truth and
on the digitised signal; a lead counts as right when they are within 0.05 mV, and a lead whose
truth has a measurable ST but whose estimate has none counts as wrong. Both figures come with a 95 %
bootstrap interval over images (the leads of one image are not independent).

    PYTHONPATH=. python benchmarks/bench_digitize.py --n 40 [--ptbxl PATH] [--json OUT] [--real DIR] [--photos-12mp]

PTB-XL: Wagner et al., PhysioNet, CC BY 4.0. Real printouts (--real): "ECG Images dataset of Cardiac
Patients", Khan and Hussain, Mendeley Data, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg_model.digitize import digitize, measure_st, read_page  # noqa: E402
from ecg_model.digitize.accuracy import printed_truth, snr_per_lead  # noqa: E402
from ecg_model.errors import ECGImageError  # noqa: E402
from ecg_model.io import load_image  # noqa: E402
from ecg_model.layouts import LAYOUTS, LEADS  # noqa: E402
from ecg_model.synth import SynthOptions, generate_dataset  # noqa: E402

DEFAULT_PTBXL = ROOT.parent / "shared" / "data" / "ptbxl_subset" / "ptbxl_subset.npz"
ST_TOLERANCE_MV = 0.05


def evaluate_folder(folder: Path, records: list[dict], width: int | None = None) -> dict:
    per_image = []
    for rec in records:
        truth = np.load(folder / rec["waveform_uv"]).astype(np.float64) / 1000.0
        t0 = time.perf_counter()
        entry: dict = {"path": rec["path"], "layout": rec["layout"]}
        try:
            result = read_page(load_image(str(folder / rec["path"])), width)
            t1 = time.perf_counter()
            dig = digitize(result)
            est = dig.matrix()
            t2 = time.perf_counter()
        except ECGImageError as exc:
            entry.update(ok=False, reason=str(exc), snr={lead: 0.0 for lead in LEADS})
            est = None
        else:
            if est.shape[0] != truth.shape[0]:
                fixed = np.full(truth.shape, np.nan)
                m = min(est.shape[0], truth.shape[0])
                fixed[:m] = est[:m]
                est = fixed
            entry.update(ok=True, snr=snr_per_lead(truth, est, rec["layout"]),
                         ms_total=(t2 - t0) * 1000.0, ms_digitize=(t2 - t1) * 1000.0)
        shown = printed_truth(truth, rec["layout"])
        st_truth = measure_st(shown, 500)
        st_est = measure_st(est, 500) if est is not None else None
        errors = {}
        for lead in LEADS:
            a = st_truth.leads[lead].st_mv
            if a is None:
                continue
            b = None if st_est is None else st_est.leads[lead].st_mv
            errors[lead] = None if b is None else abs(a - b)
        entry["st_error_mv"] = errors
        per_image.append(entry)
    return summarise(per_image)


def median_ci(per_image: list[dict], n_boot: int = 2000, seed: int = 0) -> list[float] | None:
    """95 % bootstrap interval of the all-leads median SNR, resampling whole images (the leads
    of one image are not independent): with 40 images the median moves by a dB or more."""
    groups = [np.array([v for v in e["snr"].values() if np.isfinite(v)]) for e in per_image]
    groups = [g for g in groups if g.size]
    if len(groups) < 5:
        return None
    rng = np.random.default_rng(seed)
    meds = [float(np.median(np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])))
            for _ in range(n_boot)]
    return [round(float(np.percentile(meds, 2.5)), 2), round(float(np.percentile(meds, 97.5)), 2)]


def st_ci(per_image: list[dict], n_boot: int = 2000, seed: int = 0) -> list[float] | None:
    """95 % bootstrap interval of the share of leads whose ST is within tolerance, resampling images."""
    groups = [[v is not None and v <= ST_TOLERANCE_MV for v in e["st_error_mv"].values()] for e in per_image]
    groups = [np.array(g, bool) for g in groups if g]
    if len(groups) < 5:
        return None
    rng = np.random.default_rng(seed)
    shares = [float(np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))]).mean())
              for _ in range(n_boot)]
    return [round(float(np.percentile(shares, 2.5)), 3), round(float(np.percentile(shares, 97.5)), 3)]


def summarise(per_image: list[dict]) -> dict:
    leads = [v for e in per_image for v in e["snr"].values() if np.isfinite(v)]
    ok = [e for e in per_image if e["ok"]]
    ok_leads = [v for e in ok for v in e["snr"].values() if np.isfinite(v)]
    st_all = [v for e in per_image for v in e["st_error_mv"].values()]
    st_ok = [v for v in st_all if v is not None and v <= ST_TOLERANCE_MV]
    by_layout: dict[str, list[float]] = {}
    for e in per_image:
        by_layout.setdefault(e["layout"], []).extend(v for v in e["snr"].values() if np.isfinite(v))
    times = [e["ms_total"] for e in ok]
    dig_times = [e["ms_digitize"] for e in ok]
    return {
        "images": len(per_image),
        "digitised": len(ok),
        "refused": [{"path": e["path"], "reason": e["reason"]} for e in per_image if not e["ok"]],
        "snr_db_median_all_leads": round(float(np.median(leads)), 2) if leads else None,
        "snr_db_median_ci95": median_ci(per_image),
        "snr_db_median_digitised_leads": round(float(np.median(ok_leads)), 2) if ok_leads else None,
        "snr_db_mean_all_leads": round(float(np.mean(leads)), 2) if leads else None,
        "share_leads_below_0db": round(float(np.mean(np.array(leads) < 0)), 3) if leads else None,
        "snr_db_median_by_layout": {k: round(float(np.median(v)), 2) for k, v in sorted(by_layout.items()) if v},
        "st_leads": len(st_all),
        "st_within_0_05_mv": round(len(st_ok) / len(st_all), 3) if st_all else None,
        "st_within_ci95": st_ci(per_image),
        "st_median_error_mv": round(float(np.median([v for v in st_all if v is not None])), 4)
        if any(v is not None for v in st_all) else None,
        "ms_per_image_median": round(statistics.median(times), 1) if times else None,
        "ms_digitize_median": round(statistics.median(dig_times), 1) if dig_times else None,
    }


def real_printouts(root: Path, width: int | None = None) -> dict:
    """On the real printouts (no waveform truth): how many digitise, whether the calibration
    pulses are found, and how often the ST-elevation criteria are met per source folder.
    Distinct images only (the Mendeley set repeats files)."""
    import hashlib

    seen: set[str] = set()
    out: dict = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        n = ok = pulses = clocked = marks = printed_marks = elevated = 0
        shifts: list[float] = []
        for path in sorted(folder.iterdir()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            n += 1
            try:
                dig = digitize(read_page(load_image(str(path)), width))
            except ECGImageError:
                continue
            ok += 1
            pulses += all(r["zero"] == "pulse" for r in dig.rows)
            clocked += any(r["clock_shift_ms"] is not None for r in dig.rows)
            shifts += [r["clock_shift_ms"] for r in dig.rows if r["clock_shift_ms"] is not None]
            marks += sum(r["separators"] for r in dig.rows)
            printed_marks += sum(len(row) - 1 for row in LAYOUTS[dig.layout])
            st = measure_st(dig.matrix(), dig.fs)
            elevated += any(c.startswith("ST elevation") for c in st.criteria)
        out[folder.name] = {"images": n, "digitised": ok, "all_pulses_found": pulses,
                            "clock_set_by_lead_change_marks": clocked, "lead_change_marks_read": marks,
                            "lead_change_marks_printed": printed_marks,
                            "clock_shift_ms_median": round(float(np.median(shifts)), 1) if shifts else None,
                            "st_elevation_criteria_met": elevated,
                            "share_with_st_elevation": round(elevated / ok, 3) if ok else None}
        print(f"real {folder.name}: {ok}/{n} digitised, pulses on every row {pulses}, clock set by the lead-change marks {clocked} "
              f"({marks} of {printed_marks} marks read), "
              f"ST-elevation criteria met {elevated} ({out[folder.name]['share_with_st_elevation']})", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="images per kind (half normal, half risky)")
    ap.add_argument("--seed", type=int, default=101, help="flat renders use SEED, photos SEED + 1")
    ap.add_argument("--ptbxl", default=str(DEFAULT_PTBXL))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--real", help="also run on real printouts in class folders (e.g. the Mendeley set)")
    ap.add_argument("--photos-12mp", action="store_true",
                    help="also 4000 x 3000 px photos (seed SEED + 2)")
    ap.add_argument("--work-width", type=int, default=None,
                    help="px across the page is read at (default: the digitiser's choice per page, as `digitize`)")
    args = ap.parse_args(argv)
    source = "ptbxl" if Path(args.ptbxl).is_file() else "sim"
    if source == "sim":
        print(f"PTB-XL subset not found at {args.ptbxl}: using the built-in simulator", file=sys.stderr)
    report: dict = {"source": source, "n_per_kind": args.n, "seed": args.seed, "work_width": args.work_width,
                    "snr_definition": "PhysioNet Challenge 2024, printed samples only, no alignment"}
    with tempfile.TemporaryDirectory() as tmp:
        kinds = [("flat", False, args.seed, (1600, 1200)), ("photo", True, args.seed + 1, (1600, 1200))]
        if args.photos_12mp:
            kinds.append(("photo_12mp", True, args.seed + 2, (4000, 3000)))
        for kind, photo, seed, frame in kinds:
            folder = Path(tmp) / kind
            options = SynthOptions(photo=photo, source=source, ptbxl_path=args.ptbxl if source == "ptbxl" else None,
                                   frame_wh=frame)
            records = generate_dataset(folder, args.n, seed=seed, options=options)
            report[kind] = evaluate_folder(folder, records, args.work_width)
            r = report[kind]
            print(f"{kind:10s} {r['digitised']}/{r['images']} digitised | SNR median {r['snr_db_median_all_leads']} dB "
                  f"(95 % CI {r['snr_db_median_ci95']}) "
                  f"(digitised only {r['snr_db_median_digitised_leads']}; by layout {r['snr_db_median_by_layout']}) | "
                  f"ST within 0.05 mV {r['st_within_0_05_mv']} (95 % CI {r['st_within_ci95']}) of {r['st_leads']} leads | "
                  f"{r['ms_per_image_median']} ms per image ({r['ms_digitize_median']} ms digitising)", flush=True)
    if args.real:
        report["real"] = real_printouts(Path(args.real), args.work_width)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
