"""Machine-local LSL discovery for the real-LSL scheduler tests (set before pylsl loads)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

if "LSLAPICFG" not in os.environ:
    _cfg = Path(tempfile.gettempdir()) / "helo-stream-tests-lsl_api.cfg"
    _cfg.write_text("[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n")
    os.environ["LSLAPICFG"] = str(_cfg)
