"""A camera or video file as an LSL stream of per-second LBP-TOP face features.

DMER's face modality is not video but LBP-TOP histograms of each second (30 frames) of
grayscale frames (the authors' ``LBP-TOP.py``). :class:`CameraLbpTopSource` computes the same
features from an OpenCV capture (camera index or video file) and publishes them as the
``lbptop`` stream of ``devices/face_camera.yaml``, so a face modality enters the pipeline like
any other device stream. By default frames are processed exactly as DMER did (whole frame;
``COLOR_RGB2GRAY`` applied to OpenCV's BGR frames, i.e. red and blue weights swapped); an
optional Haar-cascade face crop (the cascade ships inside the OpenCV wheel) trades that fidelity
for robustness to background motion.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from helo_stream.config import DEVICES_DIR, load_device_profile
from helo_stream.signal.lbptop import Variant, lbp_top

__all__ = ["CameraError", "CameraLbpTopSource", "FaceCropper", "face_stream_info", "to_gray"]

log = logging.getLogger(__name__)

DEVICE = "face_camera"
STREAM_KEY = "lbptop"
#: Frames per feature sample, as DMER (``fps = 30`` in ``ExtLBP_TOP4Video``).
CLIP_FRAMES = 30


class CameraError(RuntimeError):
    """The camera or video cannot be opened or read, or OpenCV lacks what was asked for."""


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise CameraError(
            "the camera source needs OpenCV: pip install opencv-python-headless"
        ) from err
    return cv2


def to_gray(frame: np.ndarray, *, dmer: bool = True) -> np.ndarray:
    """A BGR (or already gray) OpenCV frame as uint8 grayscale.

    ``dmer=True`` converts with ``COLOR_RGB2GRAY`` as the DMER authors did on OpenCV's BGR
    frames (0.299 B + 0.587 G + 0.114 R); ``False`` uses the correct ``COLOR_BGR2GRAY``.
    """
    if frame.ndim == 2:
        return frame
    cv2 = _cv2()
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY if dmer else cv2.COLOR_BGR2GRAY)


def face_stream_info(subject: str, *, device: str | None = None) -> Any:
    """The ``pylsl.StreamInfo`` of the face feature stream, as ``devices/face_camera.yaml``."""
    from helo_stream.sources.stream_info import profile_stream_info

    profile = load_device_profile(DEVICES_DIR / f"{DEVICE}.yaml")
    return profile_stream_info(profile, STREAM_KEY, subject=subject, device=device)


class FaceCropper:
    """Crop every frame of a clip to the largest face found in its first frame.

    One box per clip keeps the frames of a clip aligned (LBP-TOP compares pixels across
    time); the box is resized to ``size`` so clips are comparable whatever the face distance.
    When no face is found the previous box is reused, else the whole frame.
    """

    def __init__(self, *, size: tuple[int, int] = (128, 128)) -> None:
        cv2 = _cv2()
        if not hasattr(cv2, "CascadeClassifier"):
            raise CameraError(
                f"OpenCV {cv2.__version__} has no Haar cascades (removed in OpenCV 5); "
                "install opencv-python-headless<5 for --face-crop"
            )
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise CameraError(f"cannot load the Haar cascade {path}")
        self.size = size
        self._box: tuple[int, int, int, int] | None = None

    def detect(self, gray: np.ndarray) -> tuple[int, int, int, int] | None:
        """``(x, y, w, h)`` of the largest face, or ``None``."""
        faces = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
        return int(x), int(y), int(w), int(h)

    def crop(self, clip: np.ndarray) -> np.ndarray:
        """``(T, H, W)`` gray clip -> ``(T, size[1], size[0])`` face clip."""
        cv2 = _cv2()
        self._box = self.detect(clip[0]) or self._box
        if self._box is None:
            region = clip
        else:
            x, y, w, h = self._box
            region = clip[:, y : y + h, x : x + w]
        return np.stack([cv2.resize(f, self.size, interpolation=cv2.INTER_AREA) for f in region])


class CameraLbpTopSource:
    """Read frames, compute LBP-TOP per clip of 30 frames, push one LSL sample per clip.

    Parameters
    ----------
    source
        Camera index (``0``) or a video file path.
    subject
        Subject name for the stream's ``source_id`` (``{subject}-face_camera-lbptop``).
    realtime
        For video files: pace samples at the file's frame rate, as a camera would (default);
        ``False`` publishes as fast as frames are decoded. Cameras are always real time.
    face_crop
        Crop to the detected face (Haar cascade) instead of DMER's whole frame.
    variant
        LBP-TOP neighbour geometry (see :func:`helo_stream.signal.lbptop.lbp_top`).
    dmer_gray
        Grayscale conversion as DMER (see :func:`to_gray`).
    clip_frames
        Frames per sample; 30 as DMER (1 s at 30 fps).
    """

    def __init__(
        self,
        source: int | str | Path,
        *,
        subject: str,
        realtime: bool = True,
        face_crop: bool = False,
        variant: Variant = "dmer",
        dmer_gray: bool = True,
        clip_frames: int = CLIP_FRAMES,
    ) -> None:
        if isinstance(clip_frames, bool) or not isinstance(clip_frames, int) or clip_frames < 9:
            raise ValueError(f"clip_frames must be an integer >= 9, got {clip_frames!r}")
        self.source = source
        self.is_file = not isinstance(source, int)
        if self.is_file and not Path(source).is_file():
            raise CameraError(f"no such video file: {source}")
        self.subject = subject
        self.realtime = realtime or not self.is_file
        self.variant: Variant = variant
        self.dmer_gray = dmer_gray
        self.clip_frames = clip_frames
        self._cropper = FaceCropper() if face_crop else None
        self.clips_published = 0

    def clips(self) -> Iterator[tuple[np.ndarray, float]]:
        """Gray clips ``(T, H, W)`` with their end time in seconds of the source's own clock.

        For files the end time is ``frames / fps``; for cameras it is LSL's ``local_clock``
        when the clip's last frame was read.
        """
        import pylsl

        cv2 = _cv2()
        capture = cv2.VideoCapture(str(self.source) if self.is_file else int(self.source))
        if not capture.isOpened():
            raise CameraError(
                f"cannot open {'video file' if self.is_file else 'camera'} {self.source}"
            )
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if self.is_file and not fps > 0:
            capture.release()
            raise CameraError(f"{self.source}: the video reports no frame rate")
        if fps > 0 and abs(fps - self.clip_frames) > 0.1 * self.clip_frames:
            log.warning(
                "%s runs at %.3g fps: clips of %d frames are not 1 s, the stream's nominal rate",
                self.source,
                fps,
                self.clip_frames,
            )
        frames: list[np.ndarray] = []
        n_read = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                n_read += 1
                frames.append(to_gray(frame, dmer=self.dmer_gray))
                if len(frames) == self.clip_frames:
                    end = n_read / fps if self.is_file else pylsl.local_clock()
                    yield np.stack(frames), end
                    frames = []
        finally:
            capture.release()
        if n_read == 0:
            raise CameraError(f"no frame could be read from {self.source}")

    def features(self, clip: np.ndarray) -> np.ndarray:
        """The 768 LBP-TOP values of one gray clip (face-cropped if asked)."""
        if self._cropper is not None:
            clip = self._cropper.crop(clip)
        return lbp_top(clip, variant=self.variant).reshape(-1)

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_clips: int | None = None,
        wait_for_consumers_s: float = 0.0,
    ) -> int:
        """Publish until the source ends, ``stop`` is set or ``max_clips`` were sent.

        ``wait_for_consumers_s`` waits for an inlet before the first frame is read, so short
        files are not published to nobody. Returns the number of samples published.
        """
        import pylsl

        outlet = pylsl.StreamOutlet(face_stream_info(self.subject), chunk_size=1)
        clips = self.clips()
        try:
            if wait_for_consumers_s > 0 and not outlet.wait_for_consumers(wait_for_consumers_s):
                log.warning("no consumer after %.3g s; publishing anyway", wait_for_consumers_s)
            t0 = pylsl.local_clock()
            for clip, end in clips:
                if stop is not None and stop.is_set():
                    break
                values = self.features(clip).astype(np.float32)
                stamp = t0 + end if self.is_file else end
                if self.is_file and self.realtime:
                    delay = stamp - pylsl.local_clock()
                    if delay > 0:
                        if stop is None:
                            time.sleep(delay)
                        elif stop.wait(delay):
                            break
                outlet.push_sample(values, stamp)
                self.clips_published += 1
                if max_clips is not None and self.clips_published >= max_clips:
                    break
            if outlet.have_consumers():
                time.sleep(0.5)  # let the last samples reach the inlets before closing
        finally:
            clips.close()  # releases the capture even when stopped early
            del outlet
        return self.clips_published
