"""Command line: ``python -m ecg_model predict|preprocess|evaluate|synth|train|bench|digitize``.

Errors go to stderr as one line (a traceback only with --debug); bad usage exits with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .data import IMAGE_SUFFIXES

EPILOG = "Teaching and research tool, not a medical device."


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _expand_inputs(paths: Sequence[str]) -> list[str]:
    """Files as given; a folder stands for the images directly inside it (sorted)."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(str(f) for f in sorted(path.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        else:
            out.append(p)
    return out


def _parse_img_size(text: str) -> tuple[int, int]:
    """"256x512" or "256,512" (height x width); a single N means N x 2N (a landscape page)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        nums = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise UsageError(f"--img-size {text!r}: give HEIGHTxWIDTH, for example 256x512") from None
    if len(nums) == 1:
        nums = [nums[0], 2 * nums[0]]
    if len(nums) != 2 or min(nums) < 32 or max(nums) > 2048:
        raise UsageError(f"--img-size {text!r}: give HEIGHTxWIDTH between 32 and 2048, for example 256x512")
    return nums[0], nums[1]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _load_predictor(weights: str | None, device: str = "cpu") -> Any:
    from .predict import Predictor

    return Predictor(weights, device=device)


# ----------------------------------------------------------------------------- commands

def cmd_predict(args: argparse.Namespace) -> int:
    import cv2

    from .explain import cam_on_input, cam_on_page, overlay

    predictor = _load_predictor(args.weights, args.device)
    cam_dir = Path(args.cam_dir) if args.cam_dir else None
    if cam_dir:
        cam_dir.mkdir(parents=True, exist_ok=True)
    paths = _expand_inputs(args.images)
    results = predictor.analyse_many(paths, jobs=args.jobs, with_cam=cam_dir is not None,
                                     keep_stages=cam_dir is not None)
    for path, analysis in zip(paths, results):
        out = analysis.to_json()
        if cam_dir and analysis.cam is not None and analysis.pipeline is not None and analysis.pipeline.crop_box:
            pipe = analysis.pipeline
            flat = pipe.stages["flattened"]
            page_cam = cam_on_page(analysis.cam, pipe.crop_box, flat.shape[:2])
            stem = Path(path).stem
            cv2.imwrite(str(cam_dir / f"{stem}_cam.png"), cv2.cvtColor(overlay(flat, page_cam), cv2.COLOR_RGB2BGR))
            assert analysis.loaded is not None
            rgb = analysis.loaded.rgb
            on_input = cam_on_input(page_cam, _work_to_array(pipe.work_to_input, analysis.loaded.scale), rgb.shape[:2])
            cv2.imwrite(str(cam_dir / f"{stem}_cam_on_photo.png"), cv2.cvtColor(overlay(rgb, on_input), cv2.COLOR_RGB2BGR))
            out["cam"] = str(cam_dir / f"{stem}_cam.png")
        if args.json:
            _emit(out)
        else:
            if analysis.status == "ok":
                band = analysis.risk_band or (analysis.risk, analysis.risk)
                print(f"{path}: {analysis.label} (risk {analysis.risk:.1%}, band {band[0]:.0%}-{band[1]:.0%}, "
                      f"threshold {predictor.threshold:.0%}) {out['timings_ms']['total']:.0f} ms")
            else:
                print(f"{path}: {analysis.status}: {analysis.message}")
    if not args.json:
        print(EPILOG)
    return 0


def _work_to_array(work_to_input: Any, file_scale: float) -> Any:
    """work_to_input maps to file pixels; the decoded array may be smaller by ``file_scale``."""
    import numpy as np

    return np.diag([1.0 / file_scale, 1.0 / file_scale, 1.0]) @ work_to_input


def cmd_preprocess(args: argparse.Namespace) -> int:
    import cv2

    from .errors import ECGImageError
    from .imaging import run_pipeline
    from .io import load_image

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in _expand_inputs(args.images):
        record: dict[str, Any] = {"path": path, "status": "ok", "message": "ok", "deskew_deg": None,
                                  "paper_corners": None, "px_per_mm": None, "stages": [], "timings_ms": {}}
        try:
            loaded = load_image(path)
            result = run_pipeline(loaded)
        except ECGImageError as exc:
            record.update(status=exc.kind, message=str(exc))
        else:
            stage_dir = out_dir / Path(path).stem
            stage_dir.mkdir(parents=True, exist_ok=True)
            for i, (name, img) in enumerate(result.stages.items()):
                file = stage_dir / f"{i:02d}_{name.replace(' ', '_')}.png"
                cv2.imwrite(str(file), img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                record["stages"].append(str(file))
            record.update(
                status="ok" if result.gate.ok else "rejected",
                message="ok" if result.gate.ok else "cannot assess this image: " + result.gate.message,
                deskew_deg=round(result.deskew_deg, 3),
                turned_deg=result.turned_deg,
                paper_corners=result.paper_corners,
                px_per_mm=None if result.px_per_mm is None else round(result.px_per_mm, 4),
                # The rectified image's width, which px_per_mm and crop_box refer to: 1600 for a
                # photographed page, a narrower scan's own width (at least 1200).
                work_width=result.work_width,
                layout=result.layout,
                lead_boxes={k: list(v) for k, v in result.lead_boxes.items()},
                gate=result.gate.measures,
                timings_ms={k: round(v, 2) for k, v in result.timings_ms.items()},
                crop_box=list(result.crop_box) if result.crop_box else None,
            )
            record["timings_ms"]["total"] = round(sum(result.timings_ms.values()), 2)
        if args.json:
            _emit(record)
        else:
            print(f"{path}: {record['status']}: {record['message']} (deskew {record['deskew_deg']} deg, "
                  f"{record['px_per_mm']} px/mm, {len(record['stages'])} stages in {out_dir})")
    return 0


def _unique_stems(paths: Sequence[str]) -> list[str]:
    """One output name per input: the file's stem, numbered when two inputs share it."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = Path(p).stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return out


def cmd_digitize(args: argparse.Namespace) -> int:
    from .batch import CRASHED, digitize_task, maybe_in_processes
    from .digitize.record import digitize_record, failed_record

    width = args.work_width  # None: the digitiser's choice for each page
    if width is not None and not 800 <= width <= 4000:
        raise UsageError(f"--work-width must be between 800 and 4000 px, got {width}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _expand_inputs(args.images)
    jobs_list = list(zip(paths, _unique_stems(paths)))
    jobs = args.jobs or min(4, os.cpu_count() or 1)
    # As predict: from 8 files up, a worker process per core (a page takes 0.5-2 s to digitise,
    # so their start costs nothing); else here, one at a time.
    records = maybe_in_processes(jobs_list, paths, jobs, digitize_task(str(out_dir), width),
                                 lambda job: failed_record(job[0], CRASHED))
    if records is None:
        records = (digitize_record(path, stem, out_dir, width) for path, stem in jobs_list)
    for record in records:
        path = record["path"]
        if args.json:
            _emit(record)
        elif record["status"] == "ok":
            flagged = {k: v["flags"] for k, v in record["leads"].items() if set(v["flags"]) - {"no_pulse"}}
            st_line = ", ".join(f"{k} {v['st_mv']:+.2f}" for k, v in record["st"]["leads"].items()
                                if v["st_mv"] is not None)
            print(f"{path}: {record['layout']} layout, {record['duration_s']:g} s at {record['fs']} Hz -> "
                  f"{', '.join(record['files'])}")
            print(f"  ST (mV, J+60 ms): {st_line or 'no complete beat'}")
            for c in record["st"]["criteria"]:
                print(f"  {c}")
            for k, v in flagged.items():
                print(f"  lead {k}: {', '.join(v)}")
            for f in record["flags"]:
                print(f"  note: {f}")
        else:
            print(f"{path}: {record['status']}: {record['message']}")
    if not args.json:
        print(EPILOG)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import DEFAULT_CLASS_MAP, parse_class_map, scan_dataset
    from .evaluation import summarise

    class_map = parse_class_map(args.class_map) if args.class_map else dict(DEFAULT_CLASS_MAP)
    predictor = _load_predictor(args.weights, args.device)
    try:
        scan = scan_dataset(args.data_root, class_map)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    labels, probs, folders = [], [], []
    rejected: dict[str, int] = {}
    for i, rec in enumerate(scan.records):
        a = predictor.analyse(rec.path, keep_stages=False)
        if a.status == "ok" and a.risk is not None:
            labels.append(rec.label)
            probs.append(a.risk)
            folders.append(rec.folder)
        else:
            rejected[rec.folder] = rejected.get(rec.folder, 0) + 1
        if not args.json and (i + 1) % 25 == 0:
            print(f"scored {i + 1}/{len(scan.records)}", file=sys.stderr)
    summary = summarise(labels, probs, predictor.threshold, folders, n_rejected=sum(rejected.values()))
    for folder in scan.folders:
        entry = summary["per_folder"].setdefault(folder, {"n": 0, "label": scan.folders[folder], "recall": None})
        entry["n_rejected"] = rejected.get(folder, 0)
        entry["n"] = entry["n"] + entry["n_rejected"]
    summary["weights"] = str(predictor.weights_path)
    summary["n_exact_duplicates_skipped"] = scan.n_exact_duplicates
    if args.json:
        summary.pop("reliability", None) if not args.reliability else None
        _emit(summary)
    else:
        ci = summary["auroc_ci95"]
        print(f"n={summary['n']} rejected={summary['n_rejected']} AUROC={summary['auroc']:.3f} "
              f"(95% CI {ci[0]:.3f}-{ci[1]:.3f}) sensitivity={summary['sensitivity']:.3f} "
              f"specificity={summary['specificity']:.3f} ECE={summary['ece']:.3f} threshold={summary['threshold']:.3f}")
        for folder, entry in summary["per_folder"].items():
            print(f"  {folder}: n={entry['n']} recall={entry['recall']}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth import SynthOptions, generate_dataset

    options = SynthOptions(photo=args.photo, layouts=args.layout or None, grids=args.grid or None,
                           source=args.source, ptbxl_path=args.ptbxl)
    if args.dpi:
        options.dpi_range = (args.dpi, args.dpi)
    try:
        records = generate_dataset(args.out_dir, args.n, seed=args.seed, options=options, workers=args.workers or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(f"wrote {len(records)} images and truth.jsonl to {args.out_dir}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .data import DEFAULT_CLASS_MAP, parse_class_map
    from .train import Progress, TrainConfig, run_training

    model: dict[str, Any] = {}
    if args.channels:
        model["channels"] = [int(c) for c in args.channels.split(",")]
    if args.pooling:
        model["pooling"] = args.pooling
    out = args.out or "runs/latest/model.pt"
    cfg = TrainConfig(
        ecg_root=args.data_root,
        class_to_idx=parse_class_map(args.class_map) if args.class_map else dict(DEFAULT_CLASS_MAP),
        img_size=_parse_img_size(args.img_size),
        batch_size=args.batch_size, learning_rate=args.lr, num_epochs=args.epochs, device=args.device,
        out=out, resume=args.resume, group_regex=args.group_regex, seed=args.seed, patience=args.patience,
        photo_aug=args.photo_aug, retemplate_aug=args.retemplate_aug,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        cache_dir=args.cache_dir, workers=args.workers, model=model, max_train_batches=args.max_batches,
        synth=args.synth, synth_source=args.synth_source, ptbxl=args.ptbxl,
    )
    progress_path = args.progress or str(Path(out).parent / "progress.jsonl")
    from .train import Cancelled

    progress = Progress(progress_path, quiet=args.quiet)
    try:
        run_training(cfg, progress)
    except Cancelled:
        progress("cancelled", message="training cancelled; the last finished epoch is in last.pt (--resume)")
        return 130
    except Exception as exc:
        progress("error", message=f"{type(exc).__name__}: {exc}")
        raise
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    result = run_bench(repeats=args.repeats, weights=args.weights)
    if args.json:
        _emit(result)
    else:
        for case, stats in result["cases"].items():
            print(f"{case}: " + ", ".join(f"{k} {v:.1f}" for k, v in stats.items() if isinstance(v, float)))
    return 0


# ----------------------------------------------------------------------------- parser

def build_parser() -> Parser:
    parser = Parser(prog="python -m ecg_model", description="ECG image -> heart-attack risk estimate "
                    "(teaching and research tool, not a medical device).", epilog=EPILOG)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("predict", help="risk for each image (one JSON line each with --json)", epilog=EPILOG)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (a folder means the images in it)")
    p.add_argument("--weights", help="weights file (default: weights/default.pt)")
    p.add_argument("--json", action="store_true", help="one JSON object per input, in input order")
    p.add_argument("--cam-dir", help="write Grad-CAM overlays (cleaned page and original photo) here")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--jobs", type=int, default=0,
                   help="images analysed at once (default: CPU cores, at most 4); from 8 files up, that many "
                        "worker processes clean them; 1: one at a time")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("preprocess", help="write every pipeline stage as a PNG", epilog=EPILOG)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, help="output folder; stages go to OUT/<image stem>/")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("evaluate", help="score class folders: AUROC with CI, sensitivity, ECE", epilog=EPILOG)
    p.add_argument("data_root", metavar="DATA_ROOT")
    p.add_argument("--class-map", help="NAME=LABEL,... (default normal=0,risky=1); case-insensitive")
    p.add_argument("--weights")
    p.add_argument("--json", action="store_true")
    p.add_argument("--reliability", action="store_true", help="include the reliability table in the JSON")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("synth", help="synthetic printouts or phone photos with ground truth", epilog=EPILOG)
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--n", type=int, required=True, help="number of images (half normal, half risky)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--photo", action="store_true", help="phone photos instead of flat printouts")
    p.add_argument("--layout", action="append", choices=["3x4+1", "6x2", "12x1"], help="repeat to allow several")
    p.add_argument("--grid", action="append", choices=["red", "pink", "orange", "green", "grey", "bw"])
    p.add_argument("--dpi", type=float, help="fixed resolution (default: 100-300 at random)")
    p.add_argument("--source", default="sim", choices=["sim", "ptbxl", "mix", "neurokit"],
                   help="waveforms: built-in simulator (default), real PTB-XL records (normal ones from NORM100, "
                        "risky ones real MI or injected), half and half, or neurokit2 if installed")
    p.add_argument("--ptbxl", help="path to ptbxl_subset.npz (labels.csv beside it) for --source ptbxl or mix")
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("train", help="train a model on ECG_ROOT/<class folders>", epilog=EPILOG)
    p.add_argument("data_root", metavar="DATA_ROOT", help="ECG_ROOT: a folder of class folders")
    p.add_argument("--class-map", help="CLASS_TO_IDX as NAME=LABEL,... (default normal=0,risky=1)")
    p.add_argument("--img-size", default="256x512", help="IMG_SIZE as HEIGHTxWIDTH (default 256x512)")
    p.add_argument("--batch-size", type=int, default=32, help="BATCH_SIZE (default 32)")
    p.add_argument("--lr", type=float, default=2e-3, help="LEARNING_RATE (default 0.002)")
    p.add_argument("--epochs", type=int, default=30, help="NUM_EPOCHS (default 30)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", help="weights file to write (default runs/latest/model.pt)")
    p.add_argument("--resume", help="a last.pt from an earlier run of the same settings")
    p.add_argument("--progress", help="JSON-lines progress file (default: beside --out)")
    p.add_argument("--group-regex", help="regex on file names whose match keeps a group on one side of the split")
    p.add_argument("--photo-aug", type=int, default=1, help="simulated phone photos per training image (default 1)")
    p.add_argument("--retemplate-aug", type=int, default=0,
                   help="copies of each real training printout redrawn on random other templates (default 0)")
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--test-fraction", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=10, help="early stopping after this many epochs without gain")
    p.add_argument("--cache-dir", default=".cache/inputs", help="where cleaned inputs are cached")
    p.add_argument("--workers", type=int, default=0, help="preprocessing processes (default: all cores)")
    p.add_argument("--channels", help="conv block widths, e.g. 24,32,48,64")
    p.add_argument("--pooling", choices=["attention", "mean", "last"])
    p.add_argument("--synth", type=int, default=0,
                   help="add this many synthetic printouts (half normal, half risky) to the training split only")
    p.add_argument("--synth-source", default="sim", choices=["sim", "ptbxl", "mix", "neurokit"],
                   help="waveforms of the synthetic printouts (see synth --source)")
    p.add_argument("--ptbxl", help="ptbxl_subset.npz for --synth-source ptbxl or mix")
    p.add_argument("--max-batches", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("digitize", help="each lead's signal in mV at 500 Hz (CSV and WFDB) and its ST level",
                       epilog=EPILOG)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (a folder means the images in it)")
    p.add_argument("--out", required=True, help="output folder: <stem>.csv, <stem>.hea and <stem>.dat per image")
    p.add_argument("--json", action="store_true", help="one JSON object per input (leads, quality flags, ST)")
    p.add_argument("--work-width", type=int, default=None, metavar="PX",
                   help="width in px the page is cleaned and read at (default: 3200 for a page at least 2000 px "
                        "long in the file, else 2400; 1600 reads two to three times as fast and about 2 dB less "
                        "accurately on flat pages; 800-4000)")
    p.add_argument("--jobs", type=int, default=0,
                   help="images read at once (default: CPU cores, at most 4); from 8 files up, that many worker "
                        "processes read them; 1: one at a time")
    p.set_defaults(func=cmd_digitize)

    p = sub.add_parser("bench", help="per-stage timings and peak memory on standard inputs", epilog=EPILOG)
    p.add_argument("--json", action="store_true")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--weights")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import ECGImageError, WeightsError

    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (WeightsError, ECGImageError, ValueError, RuntimeError, OSError) as exc:
        if debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {first}", file=sys.stderr)
        return 2 if isinstance(exc, (WeightsError, ValueError)) else 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
