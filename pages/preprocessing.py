"""Preprocessing: every stage of the image pipeline for the current image."""

import streamlit as st

from ui_common import chosen_pipeline, disclaimer

st.title("Preprocessing: from photo to model input")
st.write("Each stage is a plain function: find the page and undo the perspective, deskew on the grid lines, "
         "flatten the lighting, remove the grid, crop to the traces (printed names, dates and heart rate stay "
         "out), and shrink to the model's input.")

result, analysis, pipe = chosen_pipeline("Analyze an image first (Analyze page); its stages appear here.")

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Page rotation", f"{pipe.deskew_deg:.2f}°", help="Counter-clockwise positive, at the page centre")
c2.metric("Grid pitch", f"{pipe.px_per_mm:.2f} px/mm" if pipe.px_per_mm else "no grid found")
c3.metric("Page found", "yes" if pipe.paper_corners else "fills the image")
c4.metric("Layout", pipe.layout or "not recognised")
c5.metric("Quality gate", "passed" if pipe.gate.ok else "refused")
if not pipe.gate.ok:
    st.error(pipe.gate.message)
if pipe.turned_deg:
    st.info(f"The page lay {'upside down' if pipe.turned_deg == 180 else 'sideways'} with no orientation tag in "
            f"the file; it was turned {pipe.turned_deg}° counter-clockwise and read again. The direction of its "
            "rows and the calibration pulses before each row tell which way is up.")

captions = {
    "input": "1. Input, with the page outline found",
    "rectified": "2. Perspective undone and deskewed",
    "flattened": "3. Lighting flattened (paper made evenly white)",
    "grid removed": "4. Grid removed (printed text still there)",
    "traces": "5. Traces only: text and printed rules dropped",
    "trace area": "6. Trace area (blue) and lead boxes (green) of the layout found",
    "model input": "7. Model input (trace area, resized)",
}
items = list(pipe.stages.items())
for i in range(0, len(items), 2):
    cols = st.columns(2)
    for col, (name, img) in zip(cols, items[i:i + 2]):
        col.image(img, caption=captions.get(name, name), width="stretch")

with st.expander("Numbers"):
    st.json({"deskew_deg": pipe.deskew_deg, "turned_deg": pipe.turned_deg, "paper_corners": pipe.paper_corners,
             "px_per_mm": pipe.px_per_mm,
             "layout": pipe.layout, "lead_boxes": pipe.lead_boxes,
             "crop_box": pipe.crop_box, "page": pipe.page.reason, "gate": pipe.gate.measures,
             "timings_ms": analysis.timings_ms})
disclaimer()
