"""Digitise: from the cleaned, calibrated page back to each lead's signal in mV at 500 Hz,
with ST measurements and CSV / WFDB export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .signals import FS, Digitization, LeadSignal, digitize
from .st import STReport, measure_st

if TYPE_CHECKING:
    import numpy as np

    from ..imaging import PipelineResult
    from ..imaging.page import PageDetection
    from ..io import LoadedImage

__all__ = ["DIGITIZE_WIDTH", "DIGITIZE_WIDTH_LARGE", "FS", "Digitization", "LeadSignal", "STReport", "digitize",
           "digitize_file", "digitize_image", "digitize_width", "measure_st", "read_page", "without_motion_blur"]

# The digitiser reads the page finer than the model's 1600 px: 2400 px across (about 8 px per
# mm), or 3200 where the page is at least LARGE_PAGE_PX long in the file. The pen's round end
# is then undone over more columns and a QRS flank over more rows. All-leads median SNR on the
# tuning sets, 1600 -> 2400 -> 3200 px: flat seed 5 13.95 -> 16.02 -> 16.62, flat seed 9 14.13
# at 2400 -> 14.80, simulator seed 5 16.41 -> 16.45. At 3200 the pages drawn at 7 px per mm or
# more (over 2000 px across) gained 1.2 dB on average, those drawn coarser 0.3-0.5, and the
# example printout (1754 px) lost 7.5 (enlarged 1.8 times, its thin QRS strokes broke into
# pieces); photos of 1600 x 1200 px lost 0.6-1.3. 12-megapixel photos (pages about 3200 px long
# in the file) gained 4-6 dB from 2400 to 3200, and 4000 px nothing more. Costs about 2 and 3.5
# times the 1600 px pipeline.
DIGITIZE_WIDTH = 2400
DIGITIZE_WIDTH_LARGE = 3200
LARGE_PAGE_PX = 2000


def digitize_width(image: LoadedImage | np.ndarray, page: PageDetection | None = None) -> int:
    """The width to digitise a page at: ``DIGITIZE_WIDTH_LARGE`` where the page (its outline
    in a photo, else the whole image) is at least ``LARGE_PAGE_PX`` long in the file's pixels
    (a JPEG may have been decoded smaller), else ``DIGITIZE_WIDTH``.

    ``page`` is the outline already found on ``image`` (``detect_page``), if the caller has it.

    Raises:
        ECGImageError: the image is too small or too elongated to be a page (checked before
            looking for one, as the pipeline does).
    """
    from ..imaging.page import detect_page, page_size_px
    from ..imaging.pipeline import check_proportions
    from ..io import LoadedImage

    rgb, scale = (image.rgb, image.scale) if isinstance(image, LoadedImage) else (image, 1.0)
    check_proportions(rgb.shape[1], rgb.shape[0])
    page = page or detect_page(rgb)
    long_side = max(page_size_px(page.corners)) if page.corners is not None else max(rgb.shape[:2])
    return DIGITIZE_WIDTH_LARGE if long_side * scale >= LARGE_PAGE_PX else DIGITIZE_WIDTH


def without_motion_blur(image: LoadedImage | np.ndarray,
                        page: PageDetection | None = None) -> tuple[LoadedImage | np.ndarray, str | None]:
    """The image with camera shake taken out (``imaging.deblur``) and a note saying so, or the
    image as it was and None where the photo shows none. ``page``: the outline already found on
    ``image``, if the caller has it.

    On the tuning photos (1600 x 1200 px, a third of them with a simulated shake of 3-9 px)
    this raised the digitiser's all-leads median SNR by 0.4-1.3 dB per set of 40 photos.
    """
    import dataclasses

    import cv2
    import numpy as np

    from ..imaging.deblur import estimate_motion_blur, remove_motion_blur
    from ..imaging.page import detect_page
    from ..io import LoadedImage

    rgb = image.rgb if isinstance(image, LoadedImage) else image
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 512:
        return image, None  # too small to measure a shake on (or no RGB image: the pipeline says so)
    # Only a photo of a page lying on something (its outline found) is looked at: a scan or a
    # screenshot has no camera shake, and the fine regular grid of a sharp render can mimic one.
    if (page or detect_page(rgb)).corners is None:
        return image, None
    blur = estimate_motion_blur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if blur is None:
        return image, None
    sharp = remove_motion_blur(rgb, blur)
    note = f"camera shake taken out before reading: a motion blur {blur.length_px:.1f} px long at {blur.angle_deg:.0f} degrees"
    if not isinstance(image, LoadedImage):
        return sharp, note
    return dataclasses.replace(image, rgb=sharp, notes=(*image.notes, note)), note


def read_page(image: LoadedImage | np.ndarray, work_width: int | None = None) -> PipelineResult:
    """The pipeline run for digitising: at ``work_width`` px across (None: ``digitize_width``),
    with the maps the digitiser reads, on the photo with its camera shake taken out
    (``without_motion_blur``; the result's ``notes`` then say so).

    Raises:
        ECGImageError: the image is refused (too small, too elongated).
    """
    from ..imaging import PipelineConfig, run_pipeline
    from ..imaging.page import detect_page
    from ..imaging.pipeline import check_proportions
    from ..io import LoadedImage

    page = None
    if work_width is None:
        # One outline search serves both the width and whether to look for a shake (taking a
        # shake out leaves the page's outline where it was).
        rgb = image.rgb if isinstance(image, LoadedImage) else image
        check_proportions(rgb.shape[1], rgb.shape[0])
        page = detect_page(rgb)
        work_width = digitize_width(image, page)
    image, blur_note = without_motion_blur(image, page)
    result = run_pipeline(image, PipelineConfig(work_width=work_width, enlarge=True), keep_stages=False,
                          keep_maps=True)
    if blur_note:
        result.notes = (*result.notes, blur_note)
    return result


def digitize_image(image: LoadedImage | np.ndarray,
                   work_width: int | None = None) -> tuple[Digitization, PipelineResult]:
    """Clean and digitise one loaded image; also returns the page it was read from.

    Raises:
        ECGImageError: the page cannot be digitised (the reason says why).
    """
    result = read_page(image, work_width)
    return digitize(result), result


def digitize_file(path: str, work_width: int | None = None) -> tuple[Digitization, STReport]:
    """Load an image, run the pipeline and digitise it.

    Raises:
        ECGImageError: the file cannot be read, or the page cannot be digitised (the reason
            says why).
    """
    from ..io import load_image

    dig, _ = digitize_image(load_image(path), work_width)
    return dig, measure_st(dig.matrix(), dig.fs)
