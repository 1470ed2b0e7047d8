"""The Streamlit app through AppTest: every page opens, Analyze shows a gauge for a sample."""

from __future__ import annotations

import pytest

from .conftest import ROOT

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = ["pages/analyze.py", "pages/preprocessing.py", "pages/explain.py", "pages/synthetic.py", "pages/train.py",
         "pages/model_card.py", "pages/digitize.py"]


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "router.py"), default_timeout=120)
    at.run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_without_exception(page):
    at = _app()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title, "page rendered no title"


def test_analyze_sample_shows_gauge_and_overlay_then_other_pages_use_it():
    at = _app()
    assert not at.exception
    key = "sample-synthetic_risky_inferior_st.png"
    at.button(key=key).click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    charts = at.get("plotly_chart")
    assert len(charts) >= 1
    assert any("not a medical device" in c.value for c in at.caption)
    n_samples = len([b for b in at.button if b.key and b.key.startswith("sample-")])
    assert len(at.get("image")) >= n_samples + 1  # the sample thumbnails plus the Grad-CAM overlay
    assert any("Grad-CAM" in caption for img in at.get("image") for caption in img.captions)
    for page in ("pages/preprocessing.py", "pages/explain.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert len(at.get("image")) >= 1
    # Explain: overlays on the page and the photo, per-lead bars and the time profile, downloads.
    assert len(at.get("image")) >= 2
    assert len(at.get("plotly_chart")) == 2
    labels = [d.proto.label for d in at.get("download_button")]
    assert any("report" in label for label in labels) and any("photo" in label for label in labels)
    [box for box in at.selectbox if box.label == "Method"][0].select("guided-gradcam")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Guided Grad-CAM" in c.value for c in at.caption)


def test_digitise_page_reads_the_risky_sample_and_marks_inferior_st_elevation():
    at = _app()
    at.button(key="sample-synthetic_risky_inferior_st.png").click()
    at.run()
    at.switch_page("pages/digitize.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error or all("ST elevation" in e.value for e in at.error), [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert list(table["lead"]) == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    st_mv = dict(zip(table["lead"], table["ST at J+60 (mV)"]))
    # The sample carries 0.3 mV of inferior ST elevation (III and aVF near it, reciprocal aVL).
    assert st_mv["III"] > 0.15 and st_mv["aVF"] > 0.15 and st_mv["aVL"] < -0.05, st_mv
    assert any("inferior" in e.value for e in at.error)
    labels = [d.proto.label for d in at.get("download_button")]
    assert any("CSV" in label for label in labels) and any("WFDB" in label for label in labels)
    assert any("not a medical device" in c.value for c in at.caption)
    # A flat page keeps each limb-lead print as read; a photo's are fitted together, and the page says so.
    assert not any("Einthoven" in c.value for c in at.caption)
    at.switch_page("pages/analyze.py")
    at.run()
    at.button(key="sample-synthetic_photo_risky.jpg").click()
    at.run()
    at.switch_page("pages/digitize.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Einthoven" in c.value for c in at.caption)


def test_synthetic_page_draws_and_analyzes():
    at = _app()
    at.switch_page("pages/synthetic.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("image")) >= 7  # the custom image and the gallery of six
    at.button[[b.label for b in at.button].index("Analyze this ECG")].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == 1


def test_an_upside_down_sample_is_stood_up_and_scored_as_the_upright_one():
    at = _app()
    scores = {}
    for name in ("synthetic_normal.png", "synthetic_normal_upside_down.png"):
        at.button(key=f"sample-{name}").click()
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        captions = [c.value for c in at.caption]
        scores[name] = [c for c in captions if "Processed in" in c][0]
    assert "upside down" in scores["synthetic_normal_upside_down.png"]
    assert "180° counter-clockwise" in scores["synthetic_normal_upside_down.png"]
    assert "upside down" not in scores["synthetic_normal.png"]


def test_unreadable_upload_shows_error_and_app_goes_on():
    from ecg_model.predict import Predictor
    from ecg_model.weights import DEFAULT_WEIGHTS

    analysis = Predictor(DEFAULT_WEIGHTS).analyse(b"definitely not an image", name="junk.png")
    assert analysis.status == "error" and "not an image" in analysis.message
