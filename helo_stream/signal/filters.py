"""Causal, stateful IIR filtering for streamed multi-channel signals.

The streaming pipeline receives samples in arbitrary chunks; a filter that forgets its state
between chunks would add a transient at every chunk boundary. :class:`CausalSosFilter` keeps
the ``scipy.signal.sosfilt`` delay-line state per channel, so filtering chunk by chunk gives the
same samples as filtering the whole recording in one call, which is what lets the offline
training datasets and the live stream share one code path.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
import scipy.signal

try:  # scipy's compiled kernel behind sosfilt (stable since scipy 1.2)
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - a scipy without it takes the public function
    _sosfilt_kernel = None

__all__ = ["CausalSosFilter", "FilterDesign", "FilterKind", "sosfilt_chunk"]

FilterKind = Literal["bandpass", "lowpass", "highpass", "bandstop"]
FilterDesign = Literal["scipy", "mne"]

_KINDS: tuple[str, ...] = ("bandpass", "lowpass", "highpass", "bandstop")
_DESIGNS: tuple[str, ...] = ("scipy", "mne")


class CausalSosFilter:
    """Butterworth filter in second-order sections that carries its state across chunks.

    Parameters
    ----------
    kind
        ``"bandpass"`` and ``"bandstop"`` need both ``low_hz`` and ``high_hz``; ``"highpass"``
        needs only ``low_hz`` (the edge above which signal passes); ``"lowpass"`` needs only
        ``high_hz`` (the edge below which signal passes). Same convention as MNE's
        ``l_freq``/``h_freq``.
    srate
        Sampling rate in Hz.
    low_hz, high_hz
        Cut-off frequencies (-3 dB) in Hz; positive and below Nyquist.
    order
        Butterworth order as passed to ``scipy.signal.butter`` (band filters get twice this).
    n_channels
        Number of columns of every chunk; each channel has its own state.
    design
        ``"scipy"`` designs with ``scipy.signal.butter``; ``"mne"`` with
        ``mne.filter.construct_iir_filter`` (same Butterworth family, for parity with MNE-based
        offline analyses).

    Notes
    -----
    The state of a channel is initialised at its first finite sample to the steady state for
    that value (``sosfilt_zi * x0``), so a DC offset does not cause a large start transient.
    NaN samples (gaps) come out as NaN and do not advance the state: filtering resumes after
    the gap from the state before it, so one missing sample cannot poison the IIR state forever.
    """

    def __init__(
        self,
        *,
        kind: FilterKind,
        srate: float,
        low_hz: float | None = None,
        high_hz: float | None = None,
        order: int = 4,
        n_channels: int = 1,
        design: FilterDesign = "scipy",
    ) -> None:
        _validate(
            kind=kind,
            srate=srate,
            low_hz=low_hz,
            high_hz=high_hz,
            order=order,
            n_channels=n_channels,
            design=design,
        )
        self.kind: FilterKind = kind
        self.srate = float(srate)
        self.low_hz = None if low_hz is None else float(low_hz)
        self.high_hz = None if high_hz is None else float(high_hz)
        self.order = int(order)
        self.n_channels = int(n_channels)
        self.design: FilterDesign = design
        edges = _edges(kind, self.low_hz, self.high_hz)
        if design == "scipy":
            sos = scipy.signal.butter(self.order, edges, btype=kind, output="sos", fs=self.srate)
        else:
            sos = _mne_sos(kind=kind, edges=edges, srate=self.srate, order=self.order)
        self.sos: np.ndarray = np.ascontiguousarray(sos, dtype=np.float64)
        # Steady-state response to a unit step, shape (n_sections, 2); scaled per channel.
        self._zi_unit: np.ndarray = scipy.signal.sosfilt_zi(self.sos)
        self._zi: np.ndarray = np.zeros((self.sos.shape[0], 2, self.n_channels))
        self._started: np.ndarray = np.zeros(self.n_channels, dtype=bool)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind!r}, srate={self.srate:g}, "
            f"low_hz={self.low_hz!r}, high_hz={self.high_hz!r}, order={self.order}, "
            f"n_channels={self.n_channels}, design={self.design!r})"
        )

    def reset(self) -> None:
        """Forget the state; the next finite sample of each channel re-initialises it."""
        self._zi[...] = 0.0
        self._started[:] = False

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next chunk of the stream.

        Parameters
        ----------
        chunk
            ``(n_samples, n_channels)`` samples, oldest first. A 1-D array is accepted when
            ``n_channels == 1`` and gives a 1-D result.

        Returns
        -------
        numpy.ndarray
            Filtered samples, float64, same shape as ``chunk``.
        """
        x = np.asarray(chunk, dtype=np.float64)
        one_dim = x.ndim == 1 and self.n_channels == 1
        if one_dim:
            x = x[:, np.newaxis]
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"chunk must have shape (n_samples, {self.n_channels}), got {np.shape(chunk)}"
            )
        if x.shape[0] == 0:
            return np.empty(np.shape(chunk), dtype=np.float64)

        finite = np.isfinite(x)
        if finite.all():
            self._start_channels(x[0], np.flatnonzero(~self._started))
            y, self._zi = sosfilt_chunk(self.sos, x, self._zi)
        else:
            y = np.full_like(x, np.nan)
            for ch in range(self.n_channels):
                self._process_with_gaps(x[:, ch], finite[:, ch], y[:, ch], ch)
        return y[:, 0] if one_dim else y

    def _start_channels(self, first: np.ndarray, channels: np.ndarray) -> None:
        if channels.size:
            self._zi[:, :, channels] = self._zi_unit[:, :, np.newaxis] * first[channels]
            self._started[channels] = True

    def _process_with_gaps(
        self, x: np.ndarray, finite: np.ndarray, out: np.ndarray, ch: int
    ) -> None:
        """Filter the finite runs of one channel in order, skipping NaN runs."""
        edges = np.flatnonzero(np.diff(finite.astype(np.int8)))
        bounds = np.concatenate(([0], edges + 1, [x.size]))
        for start, stop in itertools.pairwise(bounds):
            if not finite[start]:
                continue
            if not self._started[ch]:
                self._zi[:, :, ch] = self._zi_unit * x[start]
                self._started[ch] = True
            y, zi = sosfilt_chunk(self.sos, x[start:stop, np.newaxis], self._zi[:, :, ch : ch + 1])
            out[start:stop] = y[:, 0]
            self._zi[:, :, ch : ch + 1] = zi


def sosfilt_chunk(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` for float64 ``x`` (n, ch) and ``zi``
    (n_sections, 2, ch), without its argument checks.

    The checks cost ~80 us a call, 40 times the filtering of a 0.25 s chunk: on a live stream
    they were most of the filters' CPU. The arguments come from :class:`CausalSosFilter`, which
    validated them once.
    """
    if _sosfilt_kernel is None:  # pragma: no cover
        return scipy.signal.sosfilt(sos, x, axis=0, zi=zi)
    y = np.array(x.T, dtype=np.float64, order="C")  # the kernel filters rows in place
    state = np.array(zi.transpose(2, 0, 1), dtype=np.float64, order="C")
    _sosfilt_kernel(sos, y, state)
    return y.T, state.transpose(1, 2, 0)


def _edges(kind: str, low_hz: float | None, high_hz: float | None) -> float | list[float]:
    if kind in ("bandpass", "bandstop"):
        return [low_hz, high_hz]  # type: ignore[list-item]
    return low_hz if kind == "highpass" else high_hz  # type: ignore[return-value]


def _mne_sos(*, kind: str, edges: float | list[float], srate: float, order: int) -> np.ndarray:
    # Imported here: MNE is heavy to import and only needed for this design option.
    import mne

    params = mne.filter.construct_iir_filter(
        dict(order=order, ftype="butter", output="sos"),
        f_pass=edges,
        f_stop=None,
        sfreq=srate,
        btype=kind,
        return_copy=True,
        phase="forward",
        verbose=False,
    )
    return np.asarray(params["sos"], dtype=np.float64)


def _validate(
    *,
    kind: str,
    srate: float,
    low_hz: float | None,
    high_hz: float | None,
    order: int,
    n_channels: int,
    design: str,
) -> None:
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if design not in _DESIGNS:
        raise ValueError(f"design must be one of {_DESIGNS}, got {design!r}")
    if not _is_positive_number(srate):
        raise ValueError(f"srate must be a positive finite number of Hz, got {srate!r}")
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    if (
        isinstance(n_channels, bool)
        or not isinstance(n_channels, int | np.integer)
        or (n_channels < 1)
    ):
        raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
    needs = {
        "bandpass": ("low_hz", "high_hz"),
        "bandstop": ("low_hz", "high_hz"),
        "highpass": ("low_hz",),
        "lowpass": ("high_hz",),
    }[kind]
    given = {"low_hz": low_hz, "high_hz": high_hz}
    nyquist = srate / 2.0
    for name, value in given.items():
        if name in needs:
            if value is None:
                raise ValueError(f"a {kind} filter needs {' and '.join(needs)}; {name} is None")
            if not _is_positive_number(value):
                raise ValueError(f"{name} must be a positive finite number of Hz, got {value!r}")
            if value >= nyquist:
                raise ValueError(
                    f"{name}={value:g} Hz must be below the Nyquist frequency "
                    f"{nyquist:g} Hz (srate={srate:g} Hz)"
                )
        elif value is not None:
            raise ValueError(
                f"a {kind} filter takes only {' and '.join(needs)}; got {name}={value!r} "
                "(highpass uses low_hz, lowpass uses high_hz)"
            )
    if len(needs) == 2 and not low_hz < high_hz:  # type: ignore[operator]
        raise ValueError(f"low_hz ({low_hz:g} Hz) must be below high_hz ({high_hz:g} Hz)")


def _is_positive_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(float(value)) and float(value) > 0.0
