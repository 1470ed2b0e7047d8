"""Photo -> flat, deskewed, grid-free, cropped trace image, keeping every intermediate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import ECGImageError
from ..io import MIN_SIDE, LoadedImage
from .crop import TraceRegion, clean_traces, find_trace_region
from .deskew import estimate_skew, rotation_matrix
from .gate import GateResult, assess
from .geometry import horizontal_axis_angle, resize_matrix, scale_matrix
from .layout import LayoutResult, detect_layout
from .grid import any_darkness, combine_pitches, darkness, estimate_pitch_xy, remove_grid
from .orientation import (CLEAR_ROWS, OrientationEvidence, pulse_counts, reads_upright, row_structure,
                          turn_matrix)
from .page import PageDetection, detect_page, page_size_px, rectify_homography
from .shading import flatten_illumination

# The page is processed at most at this width: 1600 px over a 280 mm wide page is ~5.7 px per
# mm, finer than the model needs and coarse enough to stay quick.
WORK_WIDTH = 1600
# A scan or screenshot narrower than WORK_WIDTH is worked at its own width (enlarging adds no
# detail, only pixels: a 1 MP scan's pipeline took 1.5 times as long at 1600 px), but not below
# this: 1200 px over 280 mm keeps the 1 mm grid lines over 4 px apart, and coarser pages are
# still enlarged to it (the pipeline's thresholds were never tuned on them). A photographed page
# is always straightened to WORK_WIDTH: its far side is foreshortened, and worked at the
# outline's mean width 3 of 80 benchmark photos lost their traces or rows.
MIN_WORK_WIDTH = 1200
PREVIEW_SCALE = 0.5
PIPELINE_VERSION = 3


@dataclass(frozen=True)
class PipelineConfig:
    """Settings that change what the model sees; stored with the weights.

    ``work_width`` is the width a photographed page is straightened to, and the most a scan or
    screenshot is worked at: with ``enlarge`` a narrower scan is enlarged to it (the digitiser,
    which wants a fixed scale), else it keeps its own width, down to ``MIN_WORK_WIDTH``
    (``working_width``).
    """

    input_height: int = 256
    input_width: int = 512
    work_width: int = WORK_WIDTH
    enlarge: bool = False


def working_width(image_width_px: float, config: PipelineConfig) -> int:
    """The width a scan or screenshot (no page outline: one scale all over) is worked at."""
    if config.enlarge:
        return config.work_width
    return int(min(config.work_width, max(MIN_WORK_WIDTH, round(image_width_px))))


@dataclass
class PipelineResult:
    """Everything the pipeline found, with the images of each stage for display.

    Attributes:
        stages: stage name -> uint8 image (RGB or gray), in pipeline order.
        model_input: float32 input_height x input_width, 1 on trace, 0 on paper; None when
            the gate refused the image before a trace area was found.
        gate: the quality verdict.
        deskew_deg: rotation of the page's horizontal axis at its centre in the input
            (counter-clockwise positive, DESIGN.md).
        paper_corners: 4x[x, y] in input-file pixels, or None when the page fills the image.
        px_per_mm: grid pitch in the working (rectified) image, None without a grid.
        crop_box: (x0, y0, x1, y1) of the trace area in working pixels.
        work_to_input: 3x3 homography from working pixels to input-file pixels.
    """

    stages: dict[str, np.ndarray]
    model_input: np.ndarray | None
    gate: GateResult
    deskew_deg: float
    paper_corners: list[list[float]] | None
    px_per_mm: float | None
    px_per_mm_confidence: float
    px_per_mm_x: float | None  # the pitch along x alone (the time axis), None without a clear one
    crop_box: tuple[int, int, int, int] | None
    work_to_input: np.ndarray
    page: PageDetection
    region: TraceRegion
    ink_mask: np.ndarray  # uint8 trace mask (grid and text removed), working frame
    # The digitiser's maps (working frame), kept with ``keep_maps``; None otherwise, so that a
    # batch of results does not hold three page-sized arrays each.
    ink_soft: np.ndarray | None  # float32 darkness of the kept traces in [0, 1] (anti-aliased edges)
    flat: np.ndarray | None  # the straightened, evenly lit page (RGB)
    ink_faint: np.ndarray | None  # the soft ink before it was limited to the kept strokes
    work_width: int
    layout: str | None = None
    lead_boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    baselines: tuple[float, ...] = ()  # y of each trace row's baseline, top to bottom (working px)
    trace_span: tuple[int, int] | None = None  # first and last inked column of the traces
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Quarter turns (in degrees, counter-clockwise) the input was given to stand the page
    # upright before it was read: 0, 90, 180 or 270 (``orientation.py``).
    turned_deg: int = 0
    # What was done to the image before the pipeline read it (the digitiser's shake removal).
    notes: tuple[str, ...] = ()


def _draw_quad(rgb: np.ndarray, corners: np.ndarray | None) -> np.ndarray:
    out = rgb.copy()
    if corners is not None:
        thick = max(2, int(max(rgb.shape[:2]) / 300))
        cv2.polylines(out, [np.round(corners).astype(np.int32)], True, (0, 200, 255), thick, cv2.LINE_AA)
        cv2.circle(out, tuple(int(v) for v in corners[0]), thick * 4, (255, 40, 40), -1)
    return out


def _draw_box(rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    out = rgb.copy()
    if box is not None:
        cv2.rectangle(out, box[:2], box[2:], (0, 160, 255), max(2, rgb.shape[1] // 400))
    return out


def _draw_layout(rgb: np.ndarray, box: tuple[int, int, int, int] | None, layout: LayoutResult) -> np.ndarray:
    out = _draw_box(rgb, box)
    thick = max(1, rgb.shape[1] // 800)
    for name, (x0, y0, x1, y1) in layout.lead_boxes.items():
        cv2.rectangle(out, (x0, y0), (x1, y1), (40, 170, 40), thick)
        cv2.putText(out, name, (x0 + 4, y0 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (40, 140, 40), 1, cv2.LINE_AA)
    if layout.name:
        cv2.putText(out, f"layout {layout.name}", (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (40, 140, 40), 2, cv2.LINE_AA)
    return out


def model_input_from_ink(ink: np.ndarray, box: tuple[int, int, int, int], height: int, width: int) -> np.ndarray:
    """Crop the ink map to the trace area and resize it to the model's input size."""
    x0, y0, x1, y1 = box
    crop = ink[y0:y1, x0:x1]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def _straighten(src: np.ndarray, to_work: np.ndarray, out_w: int,
                out_h: int) -> tuple[np.ndarray, int, float, float, float | None, float]:
    """Residual rotation and aspect ratio, measured on reduced previews, folded into one warp.

    The grid is the ruler: its lines give the rotation (projection profiles), and its pitch
    along x and along y must be equal, so a page whose height came out wrong from a tilted
    photo is stretched until its millimetre squares are square again.

    Returns:
        (input -> working homography, working height, rotation found, aspect factor applied,
        grid pitch in working px per mm or None, its confidence). The pitch is measured on the
        preview along x (which the aspect correction leaves alone); the long-lag refinement
        makes it as precise there as at full size.
    """
    half = scale_matrix(PREVIEW_SCALE)
    size = (int(out_w * PREVIEW_SCALE), int(out_h * PREVIEW_SCALE))
    preview = cv2.warpPerspective(src, half @ to_work, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    flat = flatten_illumination(preview)
    skew = estimate_skew(any_darkness(flat))
    if abs(skew) > 0.05:
        to_work = rotation_matrix((out_h, out_w), skew) @ to_work
    if abs(skew) > 0.1:
        # Even a small turn smears a grid line across several of the preview's columns over
        # the page height, so the flattened preview is turned straight before the pitch is
        # measured (turning it costs a fifth of warping and flattening the source again).
        turn = half @ rotation_matrix((out_h, out_w), skew) @ np.linalg.inv(half)
        flat = cv2.warpAffine(flat, turn[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    px, cx, py, cy = estimate_pitch_xy(any_darkness(flat) * (darkness(flat) < 0.45),
                                       prior=out_w * PREVIEW_SCALE / 280.0)
    aspect = 1.0
    if px > 0 and py > 0 and min(cx, cy) > 0.3:
        ratio = px / py
        if 0.8 < ratio < 1.25 and abs(ratio - 1.0) > 0.005:
            aspect = ratio
            to_work = np.diag([1.0, aspect, 1.0]) @ to_work
            out_h = max(1, int(round(out_h * aspect)))
    # The x pitch is the reference (the aspect correction scales y to match it), unless the two
    # axes disagree beyond any perspective error and y is the clearer one.
    agree = px > 0 and py > 0 and 0.8 < px / py < 1.25
    if px > 0 and cx > 0.2 and (agree or cx >= cy):
        ppm, conf = px / PREVIEW_SCALE, cx
    elif py > 0 and cy > 0.2:
        ppm, conf = py * aspect / PREVIEW_SCALE, cy
    else:
        ppm, conf = None, max(cx, cy)
    return to_work, out_h, skew, aspect, ppm, conf


# A printed 12-lead page is between about 1:1.5 and 1.5:1; a single rhythm strip may be 4:1.
# Beyond this the image is no ECG page, and the working image would be enormous.
MAX_ASPECT = 5.0


def check_proportions(width: int, height: int) -> None:
    """Refuse images too small or too elongated to be an ECG page, before any work.

    Raises:
        ECGImageError: kind "rejected", with the reason.
    """
    if min(width, height) < MIN_SIDE:
        raise ECGImageError(f"the image is only {width}x{height} pixels; an ECG needs at least {MIN_SIDE} "
                            f"pixels on its short side to be read", kind="rejected")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT:
        raise ECGImageError(f"the image is {ratio:.0f} times longer than it is wide ({width}x{height}); "
                            f"an ECG page or strip is at most {MAX_ASPECT:.0f}:1", kind="rejected")


def run_pipeline(image: LoadedImage | np.ndarray, config: PipelineConfig | None = None,
                 keep_stages: bool = True, keep_maps: bool | None = None,
                 find_orientation: bool = True) -> PipelineResult:
    """Run every stage on one image.

    Args:
        image: a ``LoadedImage`` (so corners come back in file pixels) or an RGB uint8 array.
        config: input size and working width.
        keep_stages: False skips the display images (training and batch scoring).
        keep_maps: keep the maps the digitiser reads (``flat``, ``ink_soft``, ``ink_faint``);
            by default with the stages.
        find_orientation: a page lying sideways or upside down is turned upright and read
            again (``turned_deg``); an upright page costs the two checks only (a few ms).
    """
    config = config or PipelineConfig()
    maps = keep_stages if keep_maps is None else keep_maps
    if isinstance(image, LoadedImage):
        rgb, file_scale = image.rgb, image.scale
    else:
        rgb, file_scale = image, 1.0
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {rgb.shape} and {rgb.dtype}")
    check_proportions(rgb.shape[1], rgb.shape[0])
    result, evidence = _process(rgb, file_scale, config, keep_stages, maps)
    if not find_orientation or evidence.pulses_stand:
        return result
    t0 = time.perf_counter()

    def read_turned(k: int) -> tuple[PipelineResult, OrientationEvidence]:
        return _process(np.ascontiguousarray(np.rot90(rgb, k)), file_scale, config, keep_stages, maps)

    if evidence.upside_down:
        turns = 2
        turned, after = read_turned(2)
        upright = not after.upside_down and after.pulses_upright >= after.pulses_turned
    else:
        # A quarter turn is tried where the rows do not read as rows, where no layout was found
        # or the gate refused the page, and where neither pulses nor clear rows vouch for it:
        # read sideways, a page is processed at the working width across its short side, and
        # a 12x1 page's twelve pulses side by side make a peaked profile of their own. Not on a
        # page whose outline was found: straightening it already laid its long side level, so
        # only a half turn can be missing (a quarter turn there merely re-reads the photo).
        no_pulses = evidence.pulses_upright == 0 and evidence.pulses_turned == 0
        if result.paper_corners is not None or not (
                evidence.sideways or result.layout is None or not result.gate.ok or
                (no_pulses and evidence.row_structure < CLEAR_ROWS)):
            return result
        turns = 1
        turned, after = read_turned(1)
        if after.upside_down:
            turns = 3
            turned, after = read_turned(3)
        upright = reads_upright(after, evidence)
    # Keep a turn only where the turned page reads as upright, passes the gate and shows a
    # known layout: a turn must never be a second chance for an image the gate refused as it
    # lay (a sideways photo of a scene can pass for two rows of traces).
    if not upright or not turned.gate.ok or turned.layout is None:
        return result
    _turned_back_to_input(turned, rgb, file_scale, turns, keep_stages)
    turned.timings_ms["orientation"] = (time.perf_counter() - t0) * 1000.0
    return turned


def _turned_back_to_input(result: PipelineResult, rgb: np.ndarray, file_scale: float, turns: int,
                          keep_stages: bool) -> None:
    """Refer a result read off ``np.rot90(rgb, turns)`` to the input as it was given: its
    corners, the map from working pixels to the file's, the deskew angle and the first stage."""
    back = turn_matrix(turns, rgb.shape[1], rgb.shape[0])  # turned decoded pixels -> input's
    to_file = scale_matrix(file_scale)
    result.work_to_input = to_file @ back @ np.linalg.inv(to_file) @ result.work_to_input
    corners = None
    if result.paper_corners is not None:
        pts = np.asarray(result.paper_corners, np.float64) / file_scale
        pts = (np.c_[pts, np.ones(len(pts))] @ back.T)[:, :2]
        corners = pts
        result.paper_corners = (pts * file_scale).round(2).tolist()
    centre = (result.work_width / 2.0, result.ink_mask.shape[0] / 2.0)
    result.deskew_deg = horizontal_axis_angle(result.work_to_input, centre)
    result.turned_deg = 90 * turns
    if keep_stages:
        result.stages = {"input": _draw_quad(rgb, corners), **{k: v for k, v in result.stages.items() if k != "input"}}


def _process(rgb: np.ndarray, file_scale: float, config: PipelineConfig, keep_stages: bool,
             maps: bool) -> tuple[PipelineResult, OrientationEvidence]:
    """One pass of every stage over the image as it lies, and the orientation cues it read."""
    timings: dict[str, float] = {}
    stages: dict[str, np.ndarray] = {}
    t = time.perf_counter()

    def tick(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = (now - t) * 1000.0
        t = now

    page = detect_page(rgb)
    h_in, w_in = rgb.shape[:2]
    if page.corners is not None and not (1 / MAX_ASPECT <= np.divide(*page_size_px(page.corners)) <= MAX_ASPECT):
        # A sliver is no page: keep the whole frame rather than blow a strip up to page size.
        page = PageDetection(None, 1.0, "the outline found was too elongated for a page; the whole frame is used")
    if page.corners is not None:
        pw, ph = page_size_px(page.corners)
        out_w = config.work_width
        out_h = max(1, int(round(ph * out_w / pw)))
        to_work = rectify_homography(page.corners, (out_w, out_h))
    else:
        out_w = working_width(w_in, config)
        factor = out_w / w_in
        out_h = max(1, int(round(h_in * factor)))
        to_work = scale_matrix(factor)
    # Reduce with area averaging first when the page is much larger than the working size, so
    # thin lines are averaged, not skipped, by the perspective warp.
    pre = 1.0
    src = rgb
    page_w_in = page_size_px(page.corners)[0] if page.corners is not None else w_in
    if page_w_in > 1.5 * out_w:
        pre = 1.25 * out_w / page_w_in
        src = cv2.resize(rgb, (max(1, int(w_in * pre)), max(1, int(h_in * pre))), interpolation=cv2.INTER_AREA)
    from_src = np.linalg.inv(resize_matrix((w_in, h_in), (src.shape[1], src.shape[0])))
    tick("rectify")
    to_work, out_h, skew, aspect, ppm, ppm_conf = _straighten(src, to_work @ from_src, out_w, out_h)
    to_work = to_work @ np.linalg.inv(from_src)
    rectified = cv2.warpPerspective(src, to_work @ from_src, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    tick("deskew")
    work_to_input = scale_matrix(file_scale) @ np.linalg.inv(to_work)
    deskew_deg = horizontal_axis_angle(work_to_input, (out_w / 2.0, out_h / 2.0))
    flat = flatten_illumination(rectified)
    tick("flatten")
    # The pitch again at full size, on the central part of the page (the grid is everywhere;
    # the centre is enough and a third of the cost): more reliable than the preview's.
    ch, cw = flat.shape[0] // 5, flat.shape[1] // 5
    centre = flat[ch:-ch or None, cw:-cw or None]
    px, cx, py, cy = estimate_pitch_xy(any_darkness(centre) * (darkness(centre) < 0.45), prior=out_w / 280.0)
    full_ppm, full_conf = combine_pitches(px, cx, py, cy)
    ppm_x = float(px) if px > 0 and cx > 0.2 else None  # time runs along x: its own pitch
    if full_ppm is not None:
        ppm, ppm_conf = full_ppm, full_conf
    tick("pitch")
    ppm_for_sizes = ppm or out_w / 280.0
    ink = remove_grid(flat, ppm_for_sizes, ppm)
    tick("grid")
    region = find_trace_region(ink.mask, ppm_for_sizes)
    layout = detect_layout(ink.mask, region.box, ppm_for_sizes)
    traces, text_share = clean_traces(ink.mask, region.box, layout.baselines, ppm_for_sizes)
    tick("crop")
    # Pulses on the kept traces (text beside a pulse is gone there) or on all the ink (a pulse
    # standing apart from the trace area may have been cropped away with the margins).
    counts = [pulse_counts(m, layout.baselines, layout.span, ppm_for_sizes) for m in (traces, ink.mask)]
    evidence = OrientationEvidence(row_structure(ink.mask), max(c[0] for c in counts), max(c[1] for c in counts))
    tick("orientation_check")
    gate = assess(rgb, flat, traces, region, ppm_for_sizes, ppm is not None, text_share, layout.baselines)
    tick("gate")
    model_input = None
    soft = None
    if region.box is not None:
        # The soft ink only where a kept trace stroke is: text and specks stay out.
        soft = np.where(cv2.dilate(traces, np.ones((3, 3), np.uint8)) > 0, ink.ink, 0.0).astype(np.float32)
        model_input = model_input_from_ink(soft, region.box, config.input_height, config.input_width)
    tick("model_input")
    if keep_stages:
        stages["input"] = _draw_quad(rgb, page.corners)
        stages["rectified"] = rectified
        stages["flattened"] = flat
        stages["grid removed"] = (255 - ink.ink * 255).astype(np.uint8)
        stages["traces"] = 255 - traces
        stages["trace area"] = _draw_layout(flat, region.box, layout)
        if model_input is not None:
            stages["model input"] = (255 - model_input * 255).astype(np.uint8)
    corners = None
    if page.corners is not None:
        corners = (page.corners * file_scale).round(2).tolist()
    result = PipelineResult(stages=stages, model_input=model_input, gate=gate, deskew_deg=deskew_deg,
                            paper_corners=corners, px_per_mm=ppm, px_per_mm_confidence=ppm_conf,
                            px_per_mm_x=ppm_x,
                            crop_box=region.box, work_to_input=work_to_input, page=page, region=region,
                            ink_mask=traces, work_width=out_w, layout=layout.name,
                            ink_soft=soft if maps else None, flat=flat if maps else None,
                            ink_faint=ink.faint if maps else None,
                            lead_boxes=layout.lead_boxes, baselines=layout.baselines,
                            trace_span=layout.span, timings_ms=timings)
    return result, evidence
