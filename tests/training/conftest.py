"""Shared fixtures for the training-loop tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """One torch thread (the root conftest's fixture) for every test here."""
