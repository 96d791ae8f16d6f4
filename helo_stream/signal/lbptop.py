"""LBP-TOP: local binary patterns on three orthogonal planes of a grayscale clip.

For every voxel of a ``(T, H, W)`` clip away from the borders, 8 neighbours on a circle in each
of the planes XY (appearance), XT (horizontal motion) and YT (vertical motion) are compared with
the centre (``neighbour >= centre`` sets bit ``p``); the codes of each plane are counted in a
256-bin histogram normalised to sum to 1 (Zhao & Pietikäinen, TPAMI 2007). The result, 3 x 256
values, is the face feature of DMER (Yang et al., Sci Data 2024), computed there on 1-s clips of
30 frames.

``variant="dmer"`` reproduces the DMER authors' ``LBP-TOP.py`` exactly, so that features
computed live match their released features: neighbour coordinates are rounded with
``int(c + r * cos + 0.5)``, the time radius is 4 frames, and their XY plane takes the y offset
from ``-cos`` instead of ``-sin`` (a typo of the original MATLAB code's ``sin``), which puts the
XY neighbours on a diagonal line. ``variant="standard"`` puts them on the circle (``-sin``); its
XT and YT planes are DMER's, which are circles already. Everything
is vectorised: one shifted comparison of the whole volume per neighbour.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["LBPTOP_PLANES", "N_BINS", "Variant", "lbp_top", "lbptop_offsets"]

#: Plane order of the histograms (and of DMER's 768 columns).
LBPTOP_PLANES: tuple[str, ...] = ("xy", "xt", "yt")
N_BINS = 256
N_POINTS = 8

Variant = Literal["dmer", "standard"]


def _round_like_dmer(value: float) -> int:
    """``int(c + value + 0.5) - c`` for a positive integer centre ``c``, as DMER rounds.

    Evaluated with a centre so that float round-off (``cos(pi / 2)`` is 6e-17, not 0) falls
    exactly as in the authors' code.
    """
    centre = 1000
    return int(centre + value + 0.5) - centre


def lbptop_offsets(
    *, radius: int = 1, time_radius: int = 4, variant: Variant = "dmer"
) -> dict[str, np.ndarray]:
    """Neighbour offsets ``(dt, dy, dx)`` of bit ``p = 0..7`` in each plane, ``(8, 3)`` ints."""
    if variant not in ("dmer", "standard"):
        raise ValueError(f"variant must be 'dmer' or 'standard', got {variant!r}")
    xy, xt, yt = [], [], []
    for p in range(N_POINTS):
        angle = 2.0 * math.pi * p / N_POINTS
        dx = _round_like_dmer(radius * math.cos(angle))
        dy_circle = _round_like_dmer(-radius * math.cos(angle))  # DMER's YT (and XY) y offset
        dy_xy = dy_circle if variant == "dmer" else _round_like_dmer(-radius * math.sin(angle))
        dt = _round_like_dmer(time_radius * math.sin(angle))
        xy.append((0, dy_xy, dx))
        xt.append((dt, 0, dx))
        yt.append((dt, dy_circle, 0))
    return {
        "xy": np.array(xy, dtype=np.intp),
        "xt": np.array(xt, dtype=np.intp),
        "yt": np.array(yt, dtype=np.intp),
    }


def lbp_top(
    clip: np.ndarray,
    *,
    radius: int = 1,
    time_radius: int = 4,
    variant: Variant = "dmer",
) -> np.ndarray:
    """LBP-TOP histograms of a grayscale clip.

    Parameters
    ----------
    clip
        ``(T, H, W)`` frames, oldest first (uint8 or any real dtype).
    radius, time_radius
        Spatial and temporal radius of the neighbour circles (DMER: 1 pixel, 4 frames).
    variant
        ``"dmer"`` (bit-exact with the DMER authors' code) or ``"standard"``.

    Returns
    -------
    numpy.ndarray
        ``(3, 256)`` float64, rows XY, XT, YT, each summing to 1.

    Raises
    ------
    ValueError
        If the clip is not 3-D or too small to hold one centre voxel (``T > 2 * time_radius``,
        ``H, W > 2 * radius``).
    """
    volume = np.asarray(clip)
    if volume.ndim != 3:
        raise ValueError(f"clip must have shape (T, H, W), got {volume.shape}")
    if not np.issubdtype(volume.dtype, np.number) or np.iscomplexobj(volume):
        raise ValueError(f"clip must be real numbers, got dtype {volume.dtype}")
    offsets = lbptop_offsets(radius=radius, time_radius=time_radius, variant=variant)
    reach = np.max(np.abs(np.concatenate(list(offsets.values()))), axis=0)  # (t, y, x)
    # DMER's borders: TimeLength = tInterval frames, BorderLength = 1 pixel (= radius).
    bt, by, bx = int(reach[0]), max(int(reach[1]), radius), max(int(reach[2]), radius)
    n_t, n_y, n_x = volume.shape[0] - 2 * bt, volume.shape[1] - 2 * by, volume.shape[2] - 2 * bx
    if min(n_t, n_y, n_x) < 1:
        raise ValueError(
            f"clip of shape {volume.shape} is too small for LBP-TOP with radius {radius} and "
            f"time radius {time_radius}: needs more than {2 * bt} frames and "
            f"{2 * by} x {2 * bx} pixels"
        )
    centre = volume[bt : bt + n_t, by : by + n_y, bx : bx + n_x]
    hist = np.empty((len(LBPTOP_PLANES), N_BINS))
    for row, plane in enumerate(LBPTOP_PLANES):
        codes = np.zeros(centre.shape, dtype=np.uint8)
        for bit, (dt, dy, dx) in enumerate(offsets[plane]):
            neighbour = volume[
                bt + dt : bt + dt + n_t, by + dy : by + dy + n_y, bx + dx : bx + dx + n_x
            ]
            codes |= (neighbour >= centre).astype(np.uint8) << np.uint8(bit)
        counts = np.bincount(codes.ravel(), minlength=N_BINS)
        hist[row] = counts / counts.sum()
    return hist
