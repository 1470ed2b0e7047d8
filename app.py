"""Entry point: ``streamlit run app.py`` serves the pages of ``router.py``.

The server starts importing the model's libraries (torch, grad-cam, the image pipeline: about
3 s of CPU on two cores) the moment it starts, before anyone opens the page, so that even the
first visitor does not wait for them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st


def _import_model_libraries() -> None:
    try:
        from ecg_model.gradcam_import import import_grad_cam
        from ecg_model.predict import Predictor  # noqa: F401 - torch and the pipeline

        import_grad_cam()
    except Exception:  # noqa: BLE001 - the page imports them again and reports any error itself
        pass


@asynccontextmanager
async def _warm_start(_app: Any) -> AsyncIterator[None]:
    # A thread, not awaited: the server answers at once and the first page is drawn meanwhile.
    threading.Thread(target=_import_model_libraries, name="import-model-libraries", daemon=True).start()
    yield


app = st.App("router.py", lifespan=_warm_start)
