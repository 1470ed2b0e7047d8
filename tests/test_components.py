"""Connected-component statistics read from the ink pixels agree with OpenCV's own pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ecg_model.imaging.components import components_with_stats, keep_components


def _opencv(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return n, labels, stats


@pytest.mark.parametrize("density", [0.0005, 0.02, 0.08, 0.3, 0.9])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_labels_and_stats_as_opencv(density, seed):
    rng = np.random.default_rng(seed)
    # Specks, strokes and blobs: random pixels thickened by a random kernel.
    mask = ((rng.random((301, 457)) < density) * 255).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((1 + seed, 3), np.uint8))
    n, labels, stats = components_with_stats(mask)
    m, want_labels, want = _opencv(mask)
    assert n == m
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(stats[1:], want[1:, :5])
    assert stats[0, cv2.CC_STAT_AREA] == want[0, cv2.CC_STAT_AREA]


def test_a_view_into_a_larger_mask_and_an_empty_one():
    mask = np.zeros((200, 300), np.uint8)
    cv2.line(mask, (10, 150), (290, 20), 255, 3)
    cv2.circle(mask, (60, 60), 12, 255, -1)
    roi = mask[15:180, 40:260]  # not contiguous: rows are 300 bytes apart
    n, labels, stats = components_with_stats(roi)
    m, want_labels, want = _opencv(np.ascontiguousarray(roi))
    assert n == m == 3
    np.testing.assert_array_equal(stats[1:], want[1:, :5])
    n, labels, stats = components_with_stats(np.zeros((50, 60), np.uint8))
    assert n == 1 and stats.shape == (1, 5) and labels.max() == 0


def test_keep_components_selects_by_label():
    mask = np.zeros((40, 60), np.uint8)
    mask[5:10, 5:50] = 255  # area 225
    mask[20:22, 10:12] = 255  # area 4
    n, labels, stats = components_with_stats(mask)
    kept = keep_components(labels, np.r_[False, stats[1:, cv2.CC_STAT_AREA] >= 10])
    assert int((kept > 0).sum()) == 225 and kept[21, 11] == 0
