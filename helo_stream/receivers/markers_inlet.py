"""Record LSL protocol markers (``HeLo_Protocol``) next to the emotion messages.

A replay (and experiment software) announces each protocol condition with a string marker,
``"<condition>"`` at its start and ``"end:<condition>"`` at its end, stamped on the LSL clock
that window times use too; ``helo-stream plot`` shades the conditions from these records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["PROTOCOL_STREAM", "MarkerRecorder"]

log = logging.getLogger(__name__)

PROTOCOL_STREAM = "HeLo_Protocol"


def _subject(source_id: str) -> str:
    """``{subject}-protocol`` (what the replay publishes) -> ``subject``."""
    return source_id[: -len("-protocol")] if source_id.endswith("-protocol") else source_id


class MarkerRecorder:
    """Finds marker streams continuously and hands every marker to ``on_marker``.

    Parameters
    ----------
    on_marker : callable
        Called from the recorder's thread with ``{"marker", "lsl", "subject"}``.
    name : str
        Stream name to follow; any stream of type ``Markers`` with this name, so a replay
        started after ``listen`` is picked up too.
    """

    def __init__(
        self, *, on_marker: Callable[[dict[str, Any]], None], name: str = PROTOCOL_STREAM
    ) -> None:
        self.on_marker = on_marker
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lsl-markers", daemon=True)
        self.n_markers = 0

    def start(self) -> MarkerRecorder:
        self._thread.start()
        return self

    def _run(self) -> None:
        import pylsl

        lost_error = getattr(pylsl, "LostError", None) or pylsl.util.LostError

        resolver = pylsl.ContinuousResolver(
            pred=f"type='Markers' and name='{self.name}'", forget_after=5.0
        )
        inlets: dict[str, tuple[pylsl.StreamInlet, str]] = {}
        gone: set[str] = set()  # lost streams the resolver still lists for a few seconds
        next_resolve = 0.0
        try:
            while not self._stop.is_set():
                now = pylsl.local_clock()
                if now >= next_resolve:
                    next_resolve = now + 0.5
                    for info in resolver.results():
                        if info.uid() in inlets or info.uid() in gone:
                            continue
                        inlet = pylsl.StreamInlet(
                            info, processing_flags=pylsl.proc_clocksync, recover=False
                        )
                        try:
                            inlet.open_stream(timeout=1.0)
                        except lost_error:
                            gone.add(info.uid())  # it went away while we connected
                            continue
                        except Exception as err:  # a timeout: try again at the next resolve
                            log.debug("cannot open %s yet: %s", info.source_id(), err)
                            continue
                        inlets[info.uid()] = (inlet, _subject(info.source_id()))
                        log.info("recording markers of %s (%s)", info.name(), info.source_id())
                got_any = False
                for uid, (inlet, subject) in list(inlets.items()):
                    try:
                        sample, stamp = inlet.pull_sample(timeout=0.0)
                    except lost_error:
                        inlet.close_stream()
                        del inlets[uid]  # the replay ended; a new one gets a new uid
                        gone.add(uid)
                        continue
                    if sample is None:
                        continue
                    got_any = True
                    self.n_markers += 1
                    self.on_marker({"marker": str(sample[0]), "lsl": stamp, "subject": subject})
                if not got_any:
                    self._stop.wait(0.02)
        finally:
            for inlet, _ in inlets.values():
                inlet.close_stream()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(3.0)
