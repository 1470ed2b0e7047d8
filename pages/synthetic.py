"""Synthetic ECGs: draw a printout or a phone photo with a known diagnosis, then analyze it."""

import streamlit as st

from ecg_model.synth import (GRID_COLOURS, LAYOUTS, TERRITORIES, PaperStyle, PhotoParams, SynthOptions, WaveformParams,
                             make_sample, photograph, render_printout, synthesize)
from ecg_model.synth.paper import default_header
from ui_common import analyse_and_store, disclaimer, get_predictor, png_bytes, show_risk

st.title("Synthetic ECGs")
st.write("Every image here is made by the app's own generator (`ecg_model.synth`), so its truth is known: "
         "a normal recording, or one with an infarction pattern (ST elevation with reciprocal depression, "
         "Q waves, T inversion) in one territory. Draw one, then see what the model makes of it.")


@st.cache_data(max_entries=32, show_spinner=False)
def _custom(risky: bool, territory: str, st_mv: float, q_waves: bool, t_inv: bool, hr: int, layout: str, grid: str,
            photo: bool, rotation: float, tilt: float, shadow: float, blur: float, crease: float, curl: float,
            moire: float, seed: int) -> bytes:
    import numpy as np

    wave = WaveformParams(heart_rate=float(hr), seed=seed)
    if risky:
        wave.territory, wave.st_elevation_mv, wave.q_waves, wave.t_inversion = territory, st_mv, q_waves, t_inv
    signals = synthesize(wave)
    style = PaperStyle(layout=layout, grid=grid, dpi=130.0, header_text=default_header(np.random.default_rng(seed), hr))
    printout = render_printout(signals, wave.fs, style)
    if not photo:
        return png_bytes(printout.rgb)
    params = PhotoParams(rotation_deg=rotation, tilt_x_deg=tilt, tilt_y_deg=tilt / 3, page_fill=0.82, shading=0.3,
                         shadow=shadow, blur_sigma_px=blur, noise_sigma=3.0, jpeg_quality=80, crease=crease, curl=curl,
                         moire=moire, seed=seed)
    return photograph(printout, signals, params, {}).encoded


@st.cache_data(max_entries=8, show_spinner="Drawing the gallery…")
def _gallery(seed: int, n: int) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        s = make_sample(seed, i, i % 2 == 1, SynthOptions(photo=i % 3 == 2, dpi_range=(110, 130)))
        src = s.truth["source"]["params"]
        what = f"{src['territory']} ST +{src['st_elevation_mv']:.2f} mV" if src["territory"] else "normal"
        kind = "photo" if s.truth["photo"] else f"{s.truth['layout']}, {s.truth['grid']} grid"
        out.append((s.encoded, f"{s.truth['label']}: {what} ({kind})"))
    return out


left, right = st.columns([1, 2])
with left:
    st.subheader("Recording")
    risky = st.toggle("Infarction pattern", value=True)
    territory = st.selectbox("Territory", sorted(TERRITORIES), disabled=not risky)
    st_mv = st.slider("ST elevation (mV; 0.1 mV = 1 mm)", 0.05, 0.5, 0.25, 0.05, disabled=not risky)
    q_waves = st.checkbox("Pathological Q waves", value=True, disabled=not risky)
    t_inv = st.checkbox("T-wave inversion", value=False, disabled=not risky)
    hr = st.slider("Heart rate (bpm)", 45, 120, 72)
    st.subheader("Paper")
    layout = st.selectbox("Layout", list(LAYOUTS))
    grid = st.selectbox("Grid colour", list(GRID_COLOURS))
    photo = st.toggle("Phone photo", value=False)
    with st.expander("Photo effects", expanded=photo):
        rotation = st.slider("Rotation (degrees)", -45.0, 45.0, 6.0, disabled=not photo)
        tilt = st.slider("Camera tilt (degrees)", -30.0, 30.0, 12.0, disabled=not photo)
        shadow = st.slider("Shadow", 0.0, 0.6, 0.2, disabled=not photo)
        blur = st.slider("Blur (px)", 0.0, 3.0, 0.6, disabled=not photo)
        crease = st.slider("Crease", 0.0, 1.0, 0.0, disabled=not photo)
        curl = st.slider("Curl", 0.0, 0.05, 0.0, 0.01, disabled=not photo)
        moire = st.slider("Screen moiré", 0.0, 1.0, 0.0, disabled=not photo)
    seed = st.number_input("Seed", 0, 10_000, 1)

data = _custom(risky, territory, st_mv, q_waves, t_inv, hr, layout, grid, photo, rotation, tilt, shadow, blur, crease,
               curl, moire, int(seed))
name = f"synthetic_{'risky_' + territory if risky else 'normal'}_{seed}.{'jpg' if photo else 'png'}"
with right:
    st.image(data, caption="Synthetic " + ("phone photo" if photo else "printout") + (
        f": {territory} infarction pattern, ST +{st_mv:.2f} mV" if risky else ": normal"), width="stretch")
    c1, c2 = st.columns(2)
    c1.download_button("Download image", data, file_name=name)
    if c2.button("Analyze this ECG", type="primary"):
        predictor = get_predictor()
        if predictor is not None:
            with st.spinner("Scoring…"):
                result = analyse_and_store(predictor, data, name)
            show_risk(result.analysis, predictor.threshold)
            st.page_link("pages/analyze.py", label="See it on the Analyze page, with Grad-CAM")

st.divider()
st.subheader("Random gallery")
gseed = st.number_input("Gallery seed", 0, 10_000, 7)
cols = st.columns(3)
for i, (img, caption) in enumerate(_gallery(int(gseed), 6)):
    cols[i % 3].image(img, caption=caption, width="stretch")
disclaimer()
