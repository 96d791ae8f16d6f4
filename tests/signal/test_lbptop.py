"""LBP-TOP: bit-exact with the DMER authors' loops, hand-computed codes, static clips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helo_stream.signal.features.face import FaceFeatures
from helo_stream.signal.lbptop import lbp_top, lbptop_offsets


def _authors_lbp_top(vol: np.ndarray) -> np.ndarray:
    """A port of ``LBP_TOP`` from the DMER authors' ``LBP-TOP.py`` (their loops and rounding)."""
    length, height, width = vol.shape
    hist = np.zeros((3, 256))
    for t in range(4, length - 4):
        for yc in range(1, height - 1):
            for xc in range(1, width - 1):
                centre = vol[t, yc, xc]
                codes = [0, 0, 0]
                for p in range(8):
                    c, s = math.cos(2 * math.pi * p / 8), math.sin(2 * math.pi * p / 8)
                    x, y, z = int(xc + c + 0.5), int(yc - c + 0.5), int(t + 4 * s + 0.5)
                    codes[0] += (vol[t, y, x] >= centre) << p  # their XY: y from -cos
                    codes[1] += (vol[z, yc, x] >= centre) << p
                    codes[2] += (vol[z, y, xc] >= centre) << p
                for plane in range(3):
                    hist[plane, codes[plane]] += 1
    return hist / hist.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("shape", [(9, 3, 3), (12, 7, 9), (30, 6, 5)])
def test_matches_the_authors_code(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    clip = rng.integers(0, 256, size=shape, dtype=np.uint8)
    clip[:, :2, :2] = 128  # ties exercise >= as well
    np.testing.assert_array_equal(lbp_top(clip), _authors_lbp_top(clip))


def test_hand_computed_single_voxel() -> None:
    """One centre voxel (t=4, y=1, x=1) of a 9x3x3 clip, codes worked out by hand.

    DMER offsets (dt, dy, dx) of bits 0..7 -- XY: (0,-1,1) x3 for bits 0,1,7, the centre
    itself for bits 2 and 6, (0,1,-1) for bits 3,4,5; XT: dx=1,1,0,-1,-1,-1,0,1 with
    dt=0,3,4,3,0,-3,-4,-3; YT: dy=-1,-1,0,1,1,1,0,-1 with the same dt.
    """
    clip = np.full((9, 3, 3), 50, dtype=np.uint8)
    clip[4, 1, 1] = 100  # the centre
    clip[4, 0, 2] = 200  # up-right: XY bits 0, 1, 7 (2 and 6 always set) -> 199
    clip[8, 1, 1] = 100  # t+4, equal: XT and YT bit 2
    clip[7, 1, 0] = 255  # t+3, x-1: XT bit 3 -> XT code 4 + 8 = 12
    clip[1, 0, 1] = 101  # t-3, y-1: YT bit 7 -> YT code 4 + 128 = 132
    hist = lbp_top(clip)
    assert hist.shape == (3, 256)
    assert hist[0, 199] == 1.0 and hist[1, 12] == 1.0 and hist[2, 132] == 1.0
    # On the circle the XY neighbours are (0,1), (-1,1), (-1,0), ...: only bit 1 is >=.
    standard = lbp_top(clip, variant="standard")
    assert standard[0, 2] == 1.0
    np.testing.assert_array_equal(standard[1:], hist[1:])
    offsets = lbptop_offsets()
    assert offsets["xt"][:, 0].tolist() == [0, 3, 4, 3, 0, -3, -4, -3]


def test_static_clips_concentrate_on_uniform_codes() -> None:
    """No motion: the temporal neighbours (bits 2, 6) equal the centre, so XT/YT codes only
    depend on one spatial neighbour each side."""
    yy, xx = np.mgrid[0:20, 0:24]
    ramp = np.broadcast_to((3 * xx + 5 * yy).astype(np.uint8), (30, 20, 24))
    hist = lbp_top(ramp)
    # Brighter to the right and below: XT sees bits 0,1,7 (+2,6) = 199, YT bits 3,4,5 (+2,6)
    # = 124 -- both uniform patterns (two 0/1 transitions around the circle).
    assert hist[1, 199] == 1.0
    assert hist[2, 124] == 1.0
    flat = lbp_top(np.full((30, 8, 8), 77, dtype=np.uint8))
    assert (flat[:, 255] == 1.0).all()
    texture = np.random.default_rng(0).integers(0, 256, (20, 24), dtype=np.uint8)
    static = lbp_top(np.broadcast_to(texture, (30, 20, 24)))
    support = {68, 124, 199, 255}
    for plane in (1, 2):
        assert set(np.flatnonzero(static[plane])) <= support
    moving = np.stack([np.roll(texture, k, axis=1) for k in range(30)])
    assert not set(np.flatnonzero(lbp_top(moving)[1])) <= support
    np.testing.assert_allclose(lbp_top(moving).sum(axis=1), 1.0)


def test_rejects_unusable_clips() -> None:
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        lbp_top(np.zeros((30, 8)))
    with pytest.raises(ValueError, match="too small"):
        lbp_top(np.zeros((8, 10, 10)))
    with pytest.raises(ValueError, match="variant"):
        lbp_top(np.zeros((9, 3, 3)), variant="zhao")  # type: ignore[arg-type]


def test_face_features_average_whole_histograms() -> None:
    ext = FaceFeatures(srate=1.0)
    assert ext.modality == "face"
    assert len(ext.names) == 768
    assert ext.names[0] == "face_lbptop_xy_0" and ext.names[-1] == "face_lbptop_yt_255"
    rng = np.random.default_rng(1)
    rows = np.stack([lbp_top(rng.integers(0, 256, (30, 6, 6))).reshape(-1) for _ in range(3)])
    rows_gap = rows.copy()
    rows_gap[1, 10] = np.nan
    t = np.arange(3.0)
    np.testing.assert_allclose(ext.compute(rows, t), rows.mean(axis=0))
    np.testing.assert_allclose(ext.compute(rows_gap, t), rows[[0, 2]].mean(axis=0))
    np.testing.assert_allclose(ext.compute(rows[:1], t[:1]), rows[0])
    assert np.isnan(ext.compute(np.full((2, 768), np.nan), t[:2])).all()
