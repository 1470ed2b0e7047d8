"""Digitise: each lead's signal in mV at 500 Hz, read back from the image; ST levels beside
the per-lead saliency; CSV and WFDB downloads."""

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from ecg_model.attribution import lead_shares
from ecg_model.digitize import Digitization, STReport, digitize, measure_st, read_page
from ecg_model.digitize.export import csv_text, record_name, wfdb_zip
from ecg_model.errors import ECGImageError
from ecg_model.explain import cam_on_page
from ecg_model.imaging import PipelineResult
from ecg_model.layouts import LEADS
from ecg_model.predict import Analysis
from ui_common import IMAGE_TYPES, analyse_and_store, chosen_pipeline, disclaimer, get_predictor, png_bytes

PAGE_DISCLAIMER = ("Signals and ST levels read from a picture carry the picture's errors (resolution, "
                   "distortion, overlapping traces). For teaching and research; never for diagnosis.")


def _digitised(key: tuple, analysis: Analysis) -> tuple[Digitization | None, STReport | None, str | None,
                                                        PipelineResult | None]:
    """Digitisation per result, kept for the session (the sliders and tables re-run the page).

    The page is cleaned again at the digitiser's own width (finer than the model's, see
    ``digitize_width``); the page it was read from comes back for the check image."""
    store = st.session_state.setdefault("digitised", {})
    if key not in store:
        if len(store) > 6:
            store.pop(next(iter(store)))
        page = analysis.pipeline
        try:
            if analysis.loaded is not None:
                page = read_page(analysis.loaded)
            dig = digitize(page)
            store[key] = (dig, measure_st(dig.matrix(), dig.fs), None, page)
        except ECGImageError as exc:
            store[key] = (None, None, str(exc), page)
    return store[key]


def _downloads(key: tuple, dig: Digitization, name: str) -> tuple[bytes, bytes]:
    """CSV and zipped WFDB bytes, made once per result (the page re-runs on every click)."""
    store = st.session_state.setdefault("digitised_files", {})
    if key not in store:
        if len(store) > 6:
            store.pop(next(iter(store)))
        store[key] = (csv_text(dig).encode(), wfdb_zip(dig, name))
    return store[key]


def _trace_check(pipe, dig: Digitization) -> np.ndarray:
    """The digitised paths drawn over the cleaned page, to check what was read."""
    page = pipe.flat.copy()
    colours = [(220, 30, 30), (30, 90, 220), (20, 150, 40), (200, 100, 0)]
    for k, sig in enumerate(dig.leads.values()):
        if sig.pixel_y is None:
            continue
        xs = sig.x0 + np.arange(sig.pixel_y.size)
        ok = np.isfinite(sig.pixel_y)
        pts = np.stack([xs[ok], sig.pixel_y[ok]], axis=1)
        if len(pts) > 1:
            cv2.polylines(page, [np.round(pts * 4).astype(np.int32)], False, colours[k % len(colours)], 1,
                          cv2.LINE_AA, 2)
    return page


def _lead_figure(dig: Digitization, st_report: STReport) -> go.Figure:
    data = dig.matrix()
    t = np.arange(data.shape[0]) / dig.fs
    fig = make_subplots(rows=6, cols=2, shared_xaxes=True, vertical_spacing=0.025, horizontal_spacing=0.05,
                        subplot_titles=[LEADS[r + 6 * c] for r in range(6) for c in range(2)])
    for j, lead in enumerate(LEADS):
        row, col = j % 6 + 1, j // 6 + 1
        y = data[:, j]
        fig.add_trace(go.Scattergl(x=t, y=y, mode="lines", line={"width": 1, "color": "black"}, name=lead,
                                   showlegend=False, connectgaps=False), row=row, col=col)
        st_mv = st_report.leads[lead].st_mv
        if st_mv is not None and np.isfinite(y).any():
            idx = (row - 1) * 2 + col
            suffix = "" if idx == 1 else str(idx)
            fig.add_annotation(text=f"ST {st_mv:+.2f} mV", xref=f"x{suffix} domain", yref=f"y{suffix} domain",
                               x=1.0, y=1.0, showarrow=False,
                               font={"size": 11, "color": "#c62828" if st_report.leads[lead].elevated else "#444"})
    fig.update_yaxes(title_text="mV", title_font={"size": 10})
    fig.update_xaxes(title_text="s", row=6)
    fig.update_layout(height=900, margin={"l": 40, "r": 10, "t": 40, "b": 30})
    return fig


st.title("Digitise: the waveform back from the picture")
st.write("Each lead is followed across its box on the cleaned page and read as a signal in millivolts at 500 "
         "samples per second, using the grid for scale (25 mm/s; the calibration pulse, or 10 mm/mV, for "
         "the gain) and the pulse's foot as 0 mV. The ST level is read 60 ms after the end of the QRS "
         "complex (the J point) against the PR segment before it.")
disclaimer()
st.caption(PAGE_DISCLAIMER)

predictor = get_predictor()
upload = st.file_uploader("ECG image (or analyse one on the Analyze page)", type=IMAGE_TYPES, key="digitize-upload")
if upload is not None and predictor is not None and st.session_state.get("digitize-last") != upload.file_id:
    with st.spinner("Cleaning and reading the page…"):
        analyse_and_store(predictor, upload.getvalue(), upload.name)
    st.session_state["digitize-last"] = upload.file_id

result, analysis, pipe = chosen_pipeline("Upload an ECG image above, or analyse one on the Analyze page; its leads "
                                         "appear here.")
with st.spinner("Reading the leads…"):
    dig, st_report, problem, read_from = _digitised((result.name, id(analysis)), analysis)
if dig is None or st_report is None:
    st.error(f"{result.name}: {problem}")
    st.stop()

zeros = {r["zero"] for r in dig.rows}
st.markdown(f"**{dig.layout}** layout, {dig.duration_s:g} s strip, {dig.gain_mm_per_mv:g} mm/mV, "
            f"{dig.px_per_mm:.2f} px per mm; 0 mV from "
            f"{'the calibration pulses' if zeros == {'pulse'} else 'each row baseline' if zeros == {'baseline'} else 'pulses where found, else the row baseline'}.")
anchored = [r for r in dig.rows if r.get("clock_shift_ms") is not None]
if anchored:
    shift = max((r["clock_shift_ms"] for r in anchored), key=abs)
    st.caption(f"Time axis: the grid and the strip's end, set by the lead-change marks on {len(anchored)} of "
               f"{len(dig.rows)} rows (they moved the strip's start by up to {shift:+.0f} ms).")
else:
    st.caption("Time axis: the grid and the strip's end (no lead-change marks were read).")
if dig.limb_leads_reconciled:
    st.caption("Limb leads (I, II, III, aVR, aVL, aVF): fitted together from all their prints by Einthoven's and "
               "Goldberger's laws, which average out each print's reading errors in a photo; 'limb_mismatch' "
               "marks a print that disagreed with the others.")
for note in dig.flags:
    st.warning(note)

st.plotly_chart(_lead_figure(dig, st_report), key=f"leads-{id(dig)}")

left, right = st.columns([3, 2])
with left:
    st.subheader("What was read")
    check = _trace_check(read_from, dig)
    st.image(check, caption="Digitised paths drawn over the cleaned page", width="stretch")
with right:
    st.subheader("ST levels and saliency")
    shares: dict[str, float] = {}
    if analysis.cam is not None and pipe.crop_box is not None:
        shares = lead_shares(cam_on_page(analysis.cam, pipe.crop_box, pipe.ink_mask.shape[:2]), pipe.lead_boxes)
    rows = []
    for lead in LEADS:
        m = st_report.leads[lead]
        flags = sorted({f for s in dig.leads.values() if s.lead == lead for f in s.flags} - {"no_pulse"})
        rows.append({"lead": lead,
                     "ST at J+60 (mV)": None if m.st_mv is None else round(m.st_mv, 3),
                     "threshold (mV)": m.threshold_mv,
                     "elevated": "▲" if m.elevated else "",
                     "depressed": "▼" if m.depressed else "",
                     "beats": m.beats,
                     "saliency share": None if lead not in shares else round(shares[lead], 3),
                     "quality": ", ".join(flags)})
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption("Thresholds: ST elevation of 0.1 mV in two contiguous leads, 0.2 mV in V2-V3 (men of 40 and "
               "over; 0.25 under 40, 0.15 for women), after the Fourth Universal Definition of MI, which reads "
               "them at the J point. Saliency share: the part of the model's Grad-CAM map inside each lead's box.")
    if st_report.criteria:
        for c in st_report.criteria:
            (st.error if c.startswith("ST elevation") else st.warning)(c)
    else:
        st.success("No two contiguous leads pass the ST thresholds.")
    disclaimer()

name = record_name(result.name.rsplit(".", 1)[0])
csv_bytes, wfdb_bytes = _downloads((result.name, id(analysis)), dig, name)
d1, d2 = st.columns(2)
d1.download_button("Download CSV (mV, 500 Hz)", csv_bytes, file_name=f"{name}.csv", mime="text/csv")
d2.download_button("Download WFDB (.hea + .dat, zip)", wfdb_bytes, file_name=f"{name}_wfdb.zip",
                   mime="application/zip")
st.download_button("Download the trace check image", png_bytes(check),
                   file_name=f"{name}_trace_check.png", mime="image/png")
