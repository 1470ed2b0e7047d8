"""Where the saliency lies: per lead (from the detected lead boxes), along time, on the traces.

All maps here are on the working page (``explain.cam_on_page``), the frame of the pipeline's
lead boxes and trace mask.
"""

from __future__ import annotations

import cv2
import numpy as np

# Contiguous lead groups used to name where an infarction pattern shows (the usual teaching
# grouping: inferior II, III, aVF; anterior (septal and anterior) V1-V4; lateral I, aVL, V5, V6).
LEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "anterior": ("V1", "V2", "V3", "V4"),
    "lateral": ("I", "aVL", "V5", "V6"),
}


def lead_shares(page_cam: np.ndarray, lead_boxes: dict[str, tuple[int, int, int, int]]) -> dict[str, float]:
    """Share of the saliency inside each lead box (a rhythm strip counts for its own lead).

    Returns:
        lead -> share in [0, 1]; the shares sum to 1 over the leads found (saliency outside
        every box, such as margins, is left out). Empty when there are no boxes or no saliency.
    """
    sums: dict[str, float] = {}
    h, w = page_cam.shape
    for name, (x0, y0, x1, y1) in lead_boxes.items():
        lead = name.split(" (")[0]
        x0, x1 = max(0, int(x0)), min(w, int(x1))
        y0, y1 = max(0, int(y0)), min(h, int(y1))
        if x1 <= x0 or y1 <= y0:
            continue
        sums[lead] = sums.get(lead, 0.0) + float(page_cam[y0:y1, x0:x1].sum())
    total = sum(sums.values())
    if total <= 0:
        return {}
    return {lead: v / total for lead, v in sums.items()}


def group_shares(shares: dict[str, float]) -> dict[str, float]:
    """Saliency share per lead group, each normalised by the group's number of leads found,
    so a group with more leads on the page does not win by size alone."""
    out: dict[str, float] = {}
    for group, leads in LEAD_GROUPS.items():
        found = [shares[lead] for lead in leads if lead in shares]
        if found:
            out[group] = float(np.mean(found))
    total = sum(out.values())
    return {g: v / total for g, v in out.items()} if total > 0 else out


def time_profile(cam: np.ndarray, bins: int = 100) -> np.ndarray:
    """Mean saliency of each time slice (the BiLSTM's axis), left to right, summing to 1."""
    if cam.ndim != 2 or cam.shape[1] == 0:
        raise ValueError("expected a 2-D map")
    cols = cam.mean(axis=0)
    edges = np.linspace(0, cols.size, bins + 1).astype(int)
    prof = np.array([cols[a:b].mean() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])])
    s = prof.sum()
    return prof / s if s > 0 else prof


def trace_mass_share(page_cam: np.ndarray, trace_mask: np.ndarray, crop_box: tuple[int, int, int, int],
                     dilate_mm: float, px_per_mm: float) -> float:
    """Share of the saliency (inside the trace area) that lies on trace pixels dilated by
    ``dilate_mm``: how much of the map is on the waveforms rather than on empty paper."""
    x0, y0, x1, y1 = crop_box
    cam = page_cam[y0:y1, x0:x1]
    k = max(1, int(round(2 * dilate_mm * px_per_mm)) | 1)
    near = cv2.dilate((trace_mask[y0:y1, x0:x1] > 0).astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    total = float(cam.sum())
    return float(cam[near].sum()) / total if total > 0 else 0.0
