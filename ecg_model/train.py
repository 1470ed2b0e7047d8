"""Training: folder dataset -> cleaned inputs -> CNN-BiLSTM -> calibrated weights file.

Splits are by distinct image (exact and near duplicates stay together) into train,
validation (best epoch, early stopping, temperature, threshold) and test (reported only).
The final weights file is written once, atomically, after the run has finished and been
evaluated; a failed or cancelled run leaves any existing file untouched.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import __version__
from .augment import augment_input
from .calibrate import calibrated_probability, fit_platt
from .distributed import DistContext, init_distributed, shutdown
from .data import (DEFAULT_CLASS_MAP, InputCache, ImageRecord, group_ids, near_duplicate_groups,
                   input_entry, perceptual_hash, refused_entry, scan_dataset, stratified_group_split)
from .evaluation import summarise
from .imaging import PIPELINE_VERSION
from .imaging.pipeline import WORK_WIDTH
from .model import ECGNet, ModelConfig, count_parameters
from .weights import atomic_torch_save, make_checkpoint


@dataclass
class TrainConfig:
    """The seed's names live on as fields: ECG_ROOT, CLASS_TO_IDX, IMG_SIZE, BATCH_SIZE,
    LEARNING_RATE and NUM_EPOCHS are ``ecg_root``, ``class_to_idx``, ``img_size``,
    ``batch_size``, ``learning_rate`` and ``num_epochs``."""

    ecg_root: str
    class_to_idx: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CLASS_MAP))
    img_size: tuple[int, int] = (256, 512)  # height, width of the model input
    batch_size: int = 32
    learning_rate: float = 2e-3
    num_epochs: int = 30
    val_fraction: float = 0.15
    test_fraction: float = 0.25
    seed: int = 0
    device: str = "auto"
    out: str = "runs/latest/model.pt"
    resume: str | None = None
    group_regex: str | None = None
    patience: int = 10
    photo_aug: int = 1  # simulated phone photos per training image
    retemplate_aug: int = 0  # copies of each real training printout on random other templates
    # A teaching tool should rarely call an infarct normal; 0.95 on a small validation split
    # also leaves a margin, since the threshold sits at the edge of the positives it saw.
    sensitivity_target: float = 0.95
    cache_dir: str = ".cache/inputs"
    workers: int = 0  # preprocessing processes; 0 = number of CPU cores
    weight_decay: float = 1e-4
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    max_train_batches: int = 0  # >0 stops each epoch early (smoke tests)
    synth: int = 0  # synthetic printouts (ecg_model.synth) added to the training split only
    synth_source: str = "sim"  # waveforms for them: sim | ptbxl | mix | neurokit
    ptbxl: str | None = None  # ptbxl_subset.npz for synth_source ptbxl or mix

    def model_config(self) -> ModelConfig:
        cfg = ModelConfig(input_height=self.img_size[0], input_width=self.img_size[1])
        for k, v in self.model.items():
            if not hasattr(cfg, k):
                raise ValueError(f"unknown model setting {k!r}")
            setattr(cfg, k, tuple(v) if k == "channels" else v)
        cfg.validate()
        return cfg


class Progress:
    """JSON-lines progress events for the app, and one-line messages on stderr."""

    def __init__(self, path: str | Path | None, quiet: bool = False) -> None:
        self.path = Path(path) if path else None
        self.quiet = quiet
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: str, **data: Any) -> None:
        record = {"event": event, "time": time.time(), **data}
        if self.path:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
                fh.flush()
        if not self.quiet:
            msg = data.get("message") or " ".join(f"{k}={_fmt(v)}" for k, v in data.items() if not isinstance(v, (dict, list)))
            print(f"[{event}] {msg}", file=sys.stderr, flush=True)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class Cancelled(Exception):
    """Raised inside the loop when the job was asked to stop (SIGTERM or SIGINT)."""


_STOP = {"flag": False}


def _request_stop(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    _STOP["flag"] = True


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA GPU is available; use auto or cpu")
    if name not in ("cpu", "cuda"):
        raise RuntimeError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"CPU ({torch.get_num_threads()} threads)"


# ----------------------------------------------------------------------------- inputs

def _key_seed(key: str) -> int:
    """A seed from the whole cache key: copies k = 0, 1, ... of one image differ (a seed from
    the key's first characters, its image hash, once made every copy the same)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


def photo_key(sha1: str, k: int) -> str:
    """The cache key of simulated photo ``k`` of a printout (training and recalibration share it)."""
    return f"{sha1[:16]}photo{k}"


def _photo_input(path: str, key: str, input_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """One simulated phone photo of a printout, cleaned by the app's own pipeline."""
    from .errors import ECGImageError
    from .io import load_image
    from .synth.photo import random_photo_params, simulate_photo

    rng = np.random.default_rng(_key_seed(key))
    try:
        page = load_image(path).rgb
        h, w = page.shape[:2]
        frame = (int(w * 1.15) // 2 * 2, int(h * 1.3) // 2 * 2)
        photo = simulate_photo(page, random_photo_params(rng, frame))
    except (ECGImageError, ValueError) as exc:
        return refused_entry(str(exc))
    return input_entry(photo.rgb, input_hw)


def _retemplated_input(path: str, key: str, input_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """The printout's traces on a random other template (grid, margins, text, ink, paper), as a
    heavier or lighter pen might draw them, cleaned again by the app's own pipeline: the risk
    must follow the traces, not the paper or the pen (benchmarks/template_shift.py)."""
    import cv2

    from .errors import ECGImageError
    from .imaging import PipelineConfig, run_pipeline
    from .io import load_image
    from .synth.retemplate import random_template, retemplate

    rng = np.random.default_rng(_key_seed(key))
    try:
        first = run_pipeline(load_image(path), PipelineConfig(*input_hw), keep_stages=False, keep_maps=True)
        if first.model_input is None or first.px_per_mm is None or not first.gate.ok:
            return refused_entry(first.gate.message or "no grid pitch")
        mask, ink = first.ink_mask, first.ink_soft
        pen = rng.random()
        if pen < 0.35:  # the printer's own strokes
            pass
        elif pen < 0.7:  # solid strokes from the mask
            ink = None
        else:  # a bolder pen
            mask, ink = cv2.dilate(mask, np.ones((2, 2), np.uint8)), None
        page = retemplate(mask, first.crop_box, first.px_per_mm, random_template(rng), ink=ink)
    except (ECGImageError, ValueError) as exc:
        return refused_entry(str(exc))
    return input_entry(page, input_hw)


def _cached_job(args: tuple[str, str, str, str, tuple[int, int]]) -> dict[str, np.ndarray]:
    kind, path, key, cache_dir, input_hw = args
    # "w": scans narrower than the working width keep their own (PipelineConfig.enlarge False);
    # inputs cached before that rule were made from enlarged scans.
    cache = InputCache(cache_dir, f"p{PIPELINE_VERSION}w_{input_hw[0]}x{input_hw[1]}")
    if kind == "print":
        return cache.get_or_make(key, lambda: input_entry(path, input_hw))
    if kind == "retemplate":
        return cache.get_or_make(key, lambda: _retemplated_input(path, key, input_hw))
    return cache.get_or_make(key, lambda: _photo_input(path, key, input_hw))


def prepare_inputs(jobs: list[tuple[str, str, str]], cfg: TrainConfig, progress: Progress,
                   stage: str) -> list[dict[str, np.ndarray]]:
    """Run the pipeline over (kind, path, key) jobs in parallel, with the on-disk cache."""
    args = [(kind, path, key, cfg.cache_dir, tuple(cfg.img_size)) for kind, path, key in jobs]
    workers = cfg.workers or (os.cpu_count() or 1)
    out: list[dict[str, np.ndarray]] = []
    step = max(1, len(args) // 20)
    if workers > 1 and len(args) > 4:
        try:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for i, res in enumerate(pool.map(_cached_job, args, chunksize=4)):
                    out.append(res)
                    if _STOP["flag"]:
                        raise Cancelled()
                    if (i + 1) % step == 0 or i + 1 == len(args):
                        progress("preprocess", stage=stage, done=i + 1, total=len(args))
        except BrokenProcessPool:
            # A cancel signal reaches the whole process group, workers included.
            if _STOP["flag"]:
                raise Cancelled() from None
            raise
    else:
        for i, a in enumerate(args):
            out.append(_cached_job(a))
            if _STOP["flag"]:
                raise Cancelled()
            if (i + 1) % step == 0 or i + 1 == len(args):
                progress("preprocess", stage=stage, done=i + 1, total=len(args))
    return out


# ----------------------------------------------------------------------------- loop

class InputDataset(torch.utils.data.Dataset):
    def __init__(self, inputs: list[np.ndarray], labels: list[int], augment: bool, seed: int) -> None:
        self.inputs, self.labels, self.augment = inputs, labels, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs[i].astype(np.float32)
        if self.augment:
            x = augment_input(x, self.rng)
        return torch.from_numpy(x)[None], torch.tensor(float(self.labels[i]))


def _seed_worker(worker_id: int) -> None:
    """Each loader worker gets its own augmentation stream (a forked copy would repeat the parent's).

    torch gives every worker of every epoch a distinct initial seed derived from the loader's
    generator, so runs stay reproducible for a given seed."""
    info = torch.utils.data.get_worker_info()
    if info is not None:
        info.dataset.rng = np.random.default_rng([torch.initial_seed() % 2**32, worker_id])


def loader_options(device: torch.device) -> dict[str, Any]:
    """DataLoader settings: on a GPU, augmentation in worker processes keeps the GPU fed;
    on the CPU the cores are busy with the model, so augmentation stays in the main process."""
    if device.type != "cuda":
        return {}
    # Augmentation takes about 3 ms an image on one core, so six workers feed ~2,000 images/s.
    # (Twelve workers, each limiting its own thread pools, died together on an H200 machine.)
    workers = max(1, min(6, (os.cpu_count() or 2) - 1))
    return {"num_workers": workers, "pin_memory": True, "persistent_workers": True,
            "worker_init_fn": _seed_worker, "prefetch_factor": 4}


def autocast_context(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext()


@torch.inference_mode()
def predict_logits(model: nn.Module, inputs: list[np.ndarray], device: torch.device,
                   batch_size: int = 64) -> np.ndarray:
    model.eval()
    logits = []
    for i in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(np.stack(inputs[i:i + batch_size]).astype(np.float32))[:, None].to(device)
        with autocast_context(device):
            logits.append(model(batch).float().squeeze(1).cpu().numpy())
    return np.concatenate(logits) if logits else np.zeros(0)


def train_one_epoch(model: nn.Module, loader: torch.utils.data.DataLoader, optimizer: torch.optim.Optimizer,
                    scheduler: Any, loss_fn: nn.Module, device: torch.device, scaler: torch.amp.GradScaler,
                    max_batches: int = 0, on_batch: Callable[[int, int, float], None] | None = None) -> tuple[float, int]:
    model.train()
    total, seen = 0.0, 0
    n_batches = len(loader) if not max_batches else min(max_batches, len(loader))
    for b, (x, y) in enumerate(loader):
        if max_batches and b >= max_batches:
            break
        if _STOP["flag"]:
            raise Cancelled()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device):
            loss = loss_fn(model(x).squeeze(1).float(), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total += float(loss.detach()) * x.shape[0]
        seen += x.shape[0]
        if on_batch:
            on_batch(b + 1, n_batches, float(loss.detach()))
    return total / max(seen, 1), seen


def _split(records: list[ImageRecord], hashes: list[np.ndarray], cfg: TrainConfig) -> dict[str, list[int]]:
    dup_groups = near_duplicate_groups(hashes)
    groups = group_ids(records, cfg.group_regex, dup_groups)
    strata = [r.folder for r in records]
    holdout = cfg.val_fraction + cfg.test_fraction
    train_idx, rest = stratified_group_split(strata, groups, holdout, cfg.seed)
    rest_strata = [strata[i] for i in rest]
    rest_groups = [groups[i] for i in rest]
    val_rel, test_rel = stratified_group_split(rest_strata, rest_groups, cfg.test_fraction / holdout, cfg.seed + 1)
    return {"train": train_idx, "val": [rest[i] for i in val_rel], "test": [rest[i] for i in test_rel],
            "n_near_duplicate_groups": [len(dup_groups) - len(set(dup_groups))]}


def run_training(cfg: TrainConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Train, select, calibrate, evaluate and write the weights file. Returns the metrics."""
    progress = progress or Progress(None)
    _STOP["flag"] = False
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, _request_stop)
        except ValueError:  # not the main thread (tests): cancellation by flag only
            pass
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if os.environ.get("ECG_TRAIN_THREADS", "").isdigit():
        torch.set_num_threads(max(1, int(os.environ["ECG_TRAIN_THREADS"])))
    device = resolve_device(cfg.device)
    model_cfg = cfg.model_config()
    ctx, device = init_distributed(device)
    try:
        # Only the first process reports and writes files; the others train their share.
        return _train(cfg, progress if ctx.is_main else Progress(None, quiet=True), ctx, device, model_cfg)
    finally:
        shutdown(ctx)


def _synthetic_records(cfg: TrainConfig, progress: Progress, ctx: DistContext) -> list[ImageRecord]:
    """Synthetic printouts for the training split, generated once per settings into the cache."""
    from .synth import SynthOptions, generate_dataset

    tag = f"synth_{cfg.synth_source}_{cfg.synth}_s{cfg.seed}"
    root = Path(cfg.cache_dir) / tag
    if ctx.is_main and not (root / "truth.jsonl").exists():
        progress("synthesise", message=f"drawing {cfg.synth} synthetic printouts ({cfg.synth_source} waveforms)")
        tmp = Path(cfg.cache_dir) / f".{tag}.{os.getpid()}"
        generate_dataset(tmp, cfg.synth, seed=cfg.seed + 1000,
                         options=SynthOptions(source=cfg.synth_source, ptbxl_path=cfg.ptbxl),
                         workers=cfg.workers or None)
        if root.exists():  # an interrupted earlier attempt: replace it whole
            import shutil

            shutil.rmtree(root)
        os.replace(tmp, root)
    ctx.barrier()
    return scan_dataset(root, {"normal": 0, "risky": 1}).records


def _prepare(jobs: list[tuple[str, str, str]], cfg: TrainConfig, progress: Progress, stage: str,
             ctx: DistContext) -> list[dict[str, np.ndarray]]:
    """Process 0 fills the cache; the others then read it (no double work, no write races)."""
    if not ctx.is_main:
        ctx.barrier()
    out = prepare_inputs(jobs, cfg, progress, stage)
    if ctx.is_main:
        ctx.barrier()
    return out


def _sync_buffers(model: nn.Module, ctx: DistContext) -> None:
    """BatchNorm statistics drift apart between processes; evaluate everywhere with process 0's."""
    if ctx.enabled:
        import torch.distributed as dist

        for buf in model.buffers():
            dist.broadcast(buf.data, 0)


def _train(cfg: TrainConfig, progress: Progress, ctx: DistContext, device: torch.device,
           model_cfg: ModelConfig) -> dict[str, Any]:
    out_path = Path(cfg.out)
    run_dir = out_path.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    where = describe_device(device) + (f" x {ctx.world_size} processes ({ctx.backend})" if ctx.enabled else "")
    progress("start", message=f"training on {where}", device=where, world_size=ctx.world_size,
             config=_jsonable(asdict(cfg)))

    scan = scan_dataset(cfg.ecg_root, cfg.class_to_idx)
    labels_present = set(scan.label_counts())
    if labels_present != {0, 1}:
        raise ValueError(f"the dataset needs images of both labels (0 normal, 1 risky); found only {sorted(labels_present)} "
                         f"in folders {sorted(scan.folders)}")
    progress("scan", message=f"{len(scan.records)} distinct images ({scan.n_exact_duplicates} exact duplicates dropped)",
             counts=scan.counts(), skipped_folders=scan.skipped_folders)
    records = scan.records
    prepared = _prepare([("print", r.path, r.sha1) for r in records], cfg, progress, "printouts", ctx)
    refused = [(r.path, str(p["reason"])) for r, p in zip(records, prepared) if p["x"].size == 0]
    keep = [i for i, p in enumerate(prepared) if p["x"].size > 0]
    records = [records[i] for i in keep]
    inputs = [prepared[i]["x"] for i in keep]
    if refused:
        progress("refused", message=f"{len(refused)} images refused by the quality gate", files=refused[:50])
    hashes = [perceptual_hash(x.astype(np.float32)) for x in inputs]
    split = _split(records, hashes, cfg)
    labels = [r.label for r in records]
    for part in ("train", "val"):
        if len({labels[i] for i in split[part]}) < 2:
            raise ValueError(f"the {part} split has only one class; add images of both labels "
                             f"(train needs at least a few of each, validation at least one)")
    progress("split", message=" ".join(f"{k}={len(v)}" for k, v in split.items() if k != "n_near_duplicate_groups"),
             sizes={k: len(v) for k, v in split.items()}, near_duplicates=split["n_near_duplicate_groups"][0])

    train_x = [inputs[i] for i in split["train"]]
    train_y = [labels[i] for i in split["train"]]
    # Images to photograph: the training printouts, then any synthetic ones (training only).
    photo_sources: list[tuple[str, str, int]] = [(records[i].path, records[i].sha1, labels[i]) for i in split["train"]]
    if cfg.retemplate_aug > 0:
        jobs = [("retemplate", path, f"{sha1[:16]}rt{k}") for path, sha1, _ in photo_sources
                for k in range(cfg.retemplate_aug)]
        copies = _prepare(jobs, cfg, progress, "re-templated printouts", ctx)
        copy_y = [y for _, _, y in photo_sources for _ in range(cfg.retemplate_aug)]
        kept = [(res["x"], y) for res, y in zip(copies, copy_y) if res["x"].size]
        train_x += [x for x, _ in kept]
        train_y += [y for _, y in kept]
        progress("retemplated", message=f"{len(kept)} re-templated copies of the training printouts added", n=len(kept))
    if cfg.synth > 0:
        synth_records = _synthetic_records(cfg, progress, ctx)
        synth_prep = _prepare([("print", r.path, r.sha1) for r in synth_records], cfg, progress,
                              "synthetic printouts", ctx)
        kept = [(r, res) for r, res in zip(synth_records, synth_prep) if res["x"].size]
        train_x += [res["x"] for _, res in kept]
        train_y += [r.label for r, _ in kept]
        photo_sources += [(r.path, r.sha1, r.label) for r, _ in kept]
        progress("synthetic", message=f"{len(kept)} synthetic printouts added to the training split "
                 f"({len(synth_records) - len(kept)} refused by the gate)", n=len(kept))
    val_photos: list[np.ndarray] = []
    val_photo_y: list[int] = []
    if cfg.photo_aug > 0:
        jobs = [("photo", path, photo_key(sha1, k)) for path, sha1, _ in photo_sources for k in range(cfg.photo_aug)]
        # One photo of each validation printout: harder held-out data to fit the calibration on.
        jobs += [("photo", records[i].path, photo_key(records[i].sha1, 0)) for i in split["val"]]
        photos = _prepare(jobs, cfg, progress, "simulated photos", ctx)
        n_train_photos = len(photo_sources) * cfg.photo_aug
        for res, label in zip(photos[:n_train_photos], [y for _, _, y in photo_sources for _ in range(cfg.photo_aug)]):
            if res["x"].size:
                train_x.append(res["x"])
                train_y.append(label)
        for res, idx in zip(photos[n_train_photos:], split["val"]):
            if res["x"].size:
                val_photos.append(res["x"])
                val_photo_y.append(labels[idx])
    val_x = [inputs[i] for i in split["val"]]
    val_y = [labels[i] for i in split["val"]]

    model = ECGNet(model_cfg).to(device)
    # Channels-last on the CPU too: a training step runs ~1.5x faster there (oneDNN); the
    # model puts its inputs in the same layout itself.
    model = model.to(memory_format=torch.channels_last)
    n_pos = sum(train_y)
    n_neg = len(train_y) - n_pos
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_neg / max(n_pos, 1), device=device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    dataset = InputDataset(train_x, train_y, True, cfg.seed + 7919 * ctx.rank)
    sampler: torch.utils.data.DistributedSampler | None = None
    if ctx.enabled:
        # The global batch stays cfg.batch_size: each process takes its share of every batch.
        per_rank = max(1, math.ceil(cfg.batch_size / ctx.world_size))
        sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank,
                                                      shuffle=True, seed=cfg.seed)
        loader = torch.utils.data.DataLoader(dataset, batch_size=per_rank, sampler=sampler,
                                             drop_last=len(sampler) > per_rank, **loader_options(device))
        from torch.nn.parallel import DistributedDataParallel

        train_model: nn.Module = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                                             drop_last=len(train_x) > cfg.batch_size,
                                             generator=torch.Generator().manual_seed(cfg.seed),
                                             **loader_options(device))
        train_model = model
    steps_per_epoch = len(loader) if not cfg.max_train_batches else min(cfg.max_train_batches, len(loader))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.learning_rate,
                                                    total_steps=max(1, cfg.num_epochs * steps_per_epoch),
                                                    pct_start=0.15)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    start_epoch, best_auc, best_epoch, best_state = 0, -1.0, -1, None
    history: list[dict[str, Any]] = []
    last_path = run_dir / "last.pt"
    if cfg.resume:
        state = torch.load(cfg.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"]) + 1
        best_auc, best_epoch = float(state["best_auc"]), int(state["best_epoch"])
        best_state = state.get("best_state")
        history = list(state.get("history", []))
        progress("resume", message=f"resumed after epoch {start_epoch}", epoch=start_epoch)

    from .metrics import auroc

    epochs_without_gain = 0
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.time()

        def on_batch(b: int, n: int, loss: float, epoch: int = epoch) -> None:
            if b % 5 == 0 or b == n:
                progress("batch", epoch=epoch + 1, epochs=cfg.num_epochs, batch=b, batches=n, loss=loss)

        if sampler is not None:
            sampler.set_epoch(epoch)
        train_loss, seen = train_one_epoch(train_model, loader, optimizer, scheduler, loss_fn, device, scaler,
                                           cfg.max_train_batches, on_batch)
        train_seconds = time.time() - t0
        loss_sum, seen_all = ctx.sum(train_loss * seen, seen)
        train_loss, seen = loss_sum / max(seen_all, 1), int(seen_all)
        _sync_buffers(model, ctx)
        logits = predict_logits(model, val_x, device)
        val_auc = auroc(val_y, logits)
        photo_auc = auroc(val_photo_y, predict_logits(model, val_photos, device)) if val_photos else float("nan")
        # Select on printouts and their simulated photos alike: the app sees both.
        score = val_auc if math.isnan(photo_auc) else (val_auc + photo_auc) / 2.0
        val_loss = float(nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(logits), torch.tensor(val_y, dtype=torch.float64)).item())
        elapsed = time.time() - t0
        record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                  "val_auroc": None if math.isnan(val_auc) else val_auc,
                  "val_photo_auroc": None if math.isnan(photo_auc) else photo_auc,
                  "selection_score": None if math.isnan(score) else score,
                  "images": seen, "images_per_s": seen / max(train_seconds, 1e-9), "seconds": elapsed,
                  "lr": optimizer.param_groups[0]["lr"]}
        history.append(record)
        improved = not math.isnan(score) and (score > best_auc + 1e-4 or (abs(score - best_auc) <= 1e-4 and best_state is None))
        if improved:
            best_auc, best_epoch = score, epoch + 1
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        progress("epoch", epochs=cfg.num_epochs, best_auroc=best_auc, best_epoch=best_epoch, **record)
        if ctx.is_main:
            atomic_torch_save({"model_state": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "epoch": epoch, "best_auc": best_auc,
                               "best_epoch": best_epoch, "best_state": best_state, "history": history,
                               "config": _jsonable(asdict(cfg))}, last_path)
        if epochs_without_gain >= cfg.patience:
            progress("early_stop", message=f"no gain in the validation score for {cfg.patience} epochs")
            break

    if not ctx.is_main:
        return {}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    val_logits = predict_logits(model, val_x, device)
    photo_logits = predict_logits(model, val_photos, device) if val_photos else np.zeros(0)
    test_idx = split["test"]
    test_logits = predict_logits(model, [inputs[i] for i in test_idx], device)
    cal = calibrate_and_summarise(val_logits, val_y, photo_logits, val_photo_y, test_logits,
                                  [labels[i] for i in test_idx], [records[i].folder for i in split["val"]],
                                  [records[i].folder for i in test_idx], cfg.sensitivity_target)
    temperature, bias, threshold = cal["temperature"], cal["bias"], cal["threshold"]
    test_summary, val_summary = cal["test"], cal["validation"]
    calib_y = list(val_y) + list(val_photo_y)
    metrics = {
        "test": test_summary,
        "validation": val_summary,
        "validation_photos": cal["validation_photos"],
        "best_epoch": best_epoch,
        "history": history,
        "n_refused": len(refused),
        "refused": refused[:50],
        "split_sizes": {k: len(v) for k, v in split.items() if k != "n_near_duplicate_groups"},
        "n_train_inputs": len(train_x),  # printouts, synthetic printouts and simulated photos
        "split_files": {k: [Path(records[i].path).name for i in split[k]] for k in ("val", "test")},
        "folder_counts": scan.counts(),
        "parameters": count_parameters(model),
        "device": describe_device(device),
        "seconds": time.time() - started,
    }
    training = {"config": _jsonable(asdict(cfg)), "version": __version__, "dataset": str(cfg.ecg_root),
                "class_to_idx": cfg.class_to_idx, "calibration": {"n": len(calib_y), "photos": len(val_photo_y)}}
    pipeline = {"version": PIPELINE_VERSION, "input_height": cfg.img_size[0], "input_width": cfg.img_size[1],
                "work_width": WORK_WIDTH, "enlarge": False}
    ckpt = make_checkpoint(model.cpu(), temperature=temperature, bias=bias, threshold=threshold, pipeline=pipeline,
                           metrics=_jsonable(metrics), training=_jsonable(training))
    atomic_torch_save(ckpt, out_path)
    with open(run_dir / "metrics.json", "w", encoding="utf-8") as fh:
        json.dump(_jsonable(metrics), fh, indent=1)
    progress("done", message=f"wrote {out_path} (test AUROC {test_summary['auroc']:.3f}, "
             f"best epoch {best_epoch}, T={temperature:.2f}, b={bias:+.2f}, threshold={threshold:.3f})",
             weights=str(out_path), test=test_summary, temperature=temperature, threshold=threshold)
    return metrics


def calibrate_and_summarise(val_logits: np.ndarray, val_y: list[int], photo_logits: np.ndarray, photo_y: list[int],
                            test_logits: np.ndarray, test_y: list[int], val_folders: list[str],
                            test_folders: list[str], sensitivity_target: float) -> dict[str, Any]:
    """Fit the calibration and threshold on validation printouts plus their simulated photos
    (harder than the printouts alone, so the fit does not just sharpen), then summarise the
    validation and test splits with them. The test split only ever gets reported."""
    from .metrics import threshold_for_sensitivity

    calib_logits = np.concatenate([np.asarray(val_logits, np.float64), np.asarray(photo_logits, np.float64)])
    calib_y = list(val_y) + list(photo_y)
    temperature, bias = fit_platt(calib_logits, calib_y)
    threshold = threshold_for_sensitivity(calib_y, calibrated_probability(calib_logits, temperature, bias),
                                          sensitivity_target)
    return {
        "temperature": temperature, "bias": bias, "threshold": threshold,
        "test": summarise(test_y, calibrated_probability(test_logits, temperature, bias), threshold, test_folders),
        "validation": summarise(val_y, calibrated_probability(val_logits, temperature, bias), threshold, val_folders),
        "validation_photos": summarise(photo_y, calibrated_probability(photo_logits, temperature, bias), threshold),
    }


def _jsonable(obj: Any) -> Any:
    """Plain JSON types only (the weights file must load with ``weights_only=True``)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)
