"""Regenerate the bundled sample images in assets/samples (synthetic, made by ecg_model.synth).

Real printouts (mendeley_*.jpg) are copied by hand from the held-out test split; see
assets/samples/CREDITS.md.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from ecg_model.synth import PhotoParams, example_printout, photograph

OUT = Path(__file__).resolve().parent.parent / "assets" / "samples"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    normal, _, _ = example_printout(False, seed=101, grid="pink", dpi=120)
    risky, signals, _ = example_printout(True, seed=102, grid="red", dpi=120, territory="inferior",
                                         st_elevation_mv=0.3)
    for name, p in (("synthetic_normal.png", normal), ("synthetic_risky_inferior_st.png", risky)):
        cv2.imwrite(str(OUT / name), cv2.cvtColor(p.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    # The normal page scanned upside down (no orientation tag): the app stands it up.
    cv2.imwrite(str(OUT / "synthetic_normal_upside_down.png"), cv2.cvtColor(normal.rgb[::-1, ::-1], cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    params = PhotoParams(frame_wh=(1600, 1200), rotation_deg=-6.0, tilt_x_deg=14.0, tilt_y_deg=6.0, page_fill=0.85,
                         shading=0.35, shadow=0.2, colour_temp=0.3, blur_sigma_px=0.5, noise_sigma=3.0,
                         jpeg_quality=85, seed=7)
    photo = photograph(risky, signals, params, {})
    (OUT / "synthetic_photo_risky.jpg").write_bytes(photo.encoded)


if __name__ == "__main__":
    main()
