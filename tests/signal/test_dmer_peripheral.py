"""DMER's GSR/PPG features against the authors' perifeaext.py formulas, window and stream."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal

from helo_stream.signal.features import make_extractor
from helo_stream.signal.features.dmer_peripheral import DmerGsrFeatures, DmerPpgFeatures
from helo_stream.signal.incremental import make_incremental_features
from helo_stream.signal.incremental.dmer_peripheral import IncrementalDmerGsr, IncrementalDmerPpg


def _authors_row(x: np.ndarray, *, welch: bool) -> np.ndarray:
    """``featurefromgsr``/``featurefromppg`` for one span, as written by the authors (complex
    FFT statistics, ``signal.welch(x, 4)``), then real parts as in the released files."""

    def stats(d):
        lo, hi = np.min(d), np.max(d)
        return [np.median(d), np.mean(d), np.std(d), lo, hi,
                np.sum(d == lo) / len(d), np.sum(d == hi) / len(d)]  # fmt: skip

    f = np.fft.fft(x)
    freq = [np.median(f), np.mean(f), np.std(f), np.min(f), np.max(f), np.max(f) - np.min(f)]
    row = stats(x) + stats(np.diff(x)) + stats(np.diff(np.diff(x))) + freq
    if welch:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nperseg=256 > len(x): scipy uses len(x)
            row.append(np.mean(scipy.signal.welch(x, 4)[1]))
    return np.real(np.asarray(row, dtype=np.complex128))


@pytest.mark.parametrize(
    ("kind", "srate", "welch", "n_features"), [("gsr", 4.0, True, 28), ("ppg", 100.0, False, 27)]
)
def test_window_matches_the_authors_code(kind: str, srate: float, welch: bool, n_features: int):
    rng = np.random.default_rng(0)
    x = np.round(np.cumsum(rng.normal(size=int(5 * srate))), 1)  # ties: min/max ratios matter
    extractor = make_extractor(kind, srate=srate)
    assert isinstance(extractor, DmerGsrFeatures if kind == "gsr" else DmerPpgFeatures)
    got = extractor.compute(x, np.arange(x.size) / srate)
    assert got.shape == (n_features,)
    np.testing.assert_allclose(got, _authors_row(x, welch=welch), rtol=1e-12, atol=1e-12)
    assert np.isnan(extractor.compute(x[:-2], np.arange(x.size - 2) / srate)).all()  # < 5 s


@pytest.mark.parametrize(
    ("kind", "srate", "cls"), [("gsr", 4.0, IncrementalDmerGsr), ("ppg", 100.0, IncrementalDmerPpg)]
)
def test_stream_window_is_the_mean_of_the_rows_it_holds(kind: str, srate: float, cls) -> None:
    rng = np.random.default_rng(1)
    n = int(40 * srate)
    # Half a sample off the whole seconds: which span a sample belongs to is unambiguous.
    x, t = rng.normal(size=n), 100.0 + (np.arange(n) + 0.5) / srate
    stream = make_incremental_features(kind, srate=srate, horizon_s=20.0)
    assert isinstance(stream, cls)
    for i in range(0, n, 7):  # chunked as a source delivers
        stream.update(x[i : i + 7], t[i : i + 7])
    end = 130.0
    rows = []
    for k in range(5):  # the rows stamped end, end-1, ..., end-4: each the 5 s before it
        keep = (t > end - k - 5 + 1e-9) & (t <= end - k + 1e-9)
        rows.append(_authors_row(x[keep], welch=kind == "gsr"))
    np.testing.assert_allclose(stream.compute(end - 5, end), np.mean(rows, axis=0), rtol=1e-10)
    # A gap in the newest half second removes only the row whose span holds it (the newest).
    x[(t > end - 0.5) & (t <= end)] = np.nan
    gapped = make_incremental_features(kind, srate=srate, horizon_s=20.0)
    gapped.update(x, t)
    np.testing.assert_allclose(gapped.compute(end - 5, end), np.mean(rows[1:], axis=0), rtol=1e-10)
    assert np.isnan(gapped.compute(end - 1, end)).all()
