"""Entry point: ``streamlit run app.py`` serves the pages of ``router.py``.

The server starts importing the model's libraries the moment it starts, before anyone opens the
page: importing grad-cam alone (torchvision, scikit-learn, SciPy, matplotlib) takes about 4 s of
CPU on two cores, which the first visitor would otherwise wait for.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st


def _import_model_libraries() -> None:
    try:
        import pytorch_grad_cam  # noqa: F401

        import ecg_model.predict  # noqa: F401
    except Exception:  # noqa: BLE001 - the page imports them again and reports any error itself
        pass


@asynccontextmanager
async def _warm_start(_app: Any) -> AsyncIterator[None]:
    # A thread, not awaited: the server answers at once and the first page is drawn meanwhile.
    threading.Thread(target=_import_model_libraries, name="import-model-libraries", daemon=True).start()
    yield


app = st.App("router.py", lifespan=_warm_start)
