# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Heat maps: normalisation (NaN-safe), peak location, colour overlay, PNG written atomically."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tcvads_ros.runtime.heatmap import (
    HeatmapError,
    frame_heat,
    normalise_cam,
    overlay,
    peak_location,
    save_heatmap,
    write_png,
)

RNG = np.random.default_rng(3)
FRAME = RNG.integers(0, 256, (70, 140, 3), dtype=np.uint8)


def hot_spot(row: int, col: int, shape=(7, 7)) -> np.ndarray:
    cam = np.zeros(shape, np.float32)
    cam[row, col] = 4.0
    return cam


def test_normalise_spans_zero_to_one():
    cam = RNG.normal(size=(5, 6)) * 10 - 3
    out = normalise_cam(cam)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == pytest.approx(1.0)
    np.testing.assert_allclose(
        out, (cam - cam.min()) / (cam.max() - cam.min()), rtol=1e-5, atol=1e-6
    )


def test_non_finite_values_do_not_poison_the_map():
    cam = np.array([[np.nan, 1.0], [np.inf, 3.0], [-np.inf, 2.0]])
    out = normalise_cam(cam)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [[0.0, 0.0], [0.0, 1.0], [0.0, 0.5]])
    assert not normalise_cam(np.full((3, 3), np.nan)).any()
    assert not normalise_cam(np.full((3, 3), 7.0)).any()  # flat map stays flat
    assert normalise_cam(np.ones((1, 4, 4))).shape == (4, 4)  # (1, h, w) as the graph returns


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.zeros((2, 3, 3))])
def test_bad_cam_shapes_are_refused(bad):
    with pytest.raises(HeatmapError, match="CAM"):
        normalise_cam(bad)


def test_peak_location_maps_the_hot_cell_to_frame_pixels():
    x, y = peak_location(hot_spot(2, 5), 70, 140)
    # Cell (row 2, col 5) of a 7x7 grid covers x in [100, 120), y in [20, 30) of a 140x70 frame.
    assert 100 <= x < 120 and 20 <= y < 30
    assert peak_location(np.zeros((7, 7)), 70, 140) is None
    assert peak_location(np.full((7, 7), np.nan), 70, 140) is None


def test_frame_heat_has_the_frame_size_and_range():
    heat = frame_heat(RNG.random((7, 7)), 70, 140)
    assert heat.shape == (70, 140) and heat.min() >= 0.0 and heat.max() <= 1.0


def test_overlay_colours_hot_red_and_cold_blue():
    cam = hot_spot(2, 5)
    full = overlay(FRAME, cam, alpha=1.0)
    x, y = peak_location(cam, 70, 140)
    assert full[y, x, 0] > full[y, x, 2]  # JET: hot is red
    assert full[65, 5, 2] > full[65, 5, 0]  # cold is blue
    np.testing.assert_array_equal(overlay(FRAME, cam, alpha=0.0), FRAME)
    half = overlay(FRAME, cam, alpha=0.5)
    assert half.shape == FRAME.shape and half.dtype == np.uint8
    expected = (FRAME.astype(np.float64) + full.astype(np.float64)) / 2
    assert np.abs(half - expected).max() <= 1.0
    with pytest.raises(HeatmapError, match="alpha"):
        overlay(FRAME, cam, alpha=2.0)
    with pytest.raises(HeatmapError, match="RGB"):
        overlay(FRAME[..., 0], cam)


def test_write_png_round_trips_and_leaves_no_temporary_files(tmp_path):
    path = write_png(tmp_path / "sub" / "peak.png", FRAME)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, FRAME)
    assert [p.name for p in path.parent.iterdir()] == ["peak.png"]
    with pytest.raises(HeatmapError, match="cannot write"):
        write_png(tmp_path / "sub", FRAME)  # a directory is in the way
    assert [p.name for p in path.parent.iterdir()] == ["peak.png"]


def test_save_heatmap_returns_path_and_peak(tmp_path):
    result = save_heatmap(tmp_path / "event.png", FRAME, hot_spot(6, 0))
    assert result.path.is_file()
    x, y = result.peak
    assert 0 <= x < 20 and 60 <= y < 70
    image = cv2.cvtColor(cv2.imread(str(result.path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, overlay(FRAME, hot_spot(6, 0)))
    assert save_heatmap(tmp_path / "flat.png", FRAME, np.zeros((7, 7))).peak is None
