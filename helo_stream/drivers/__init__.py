"""Drivers: software devices that publish LSL outlets (a camera's face features, for one)."""
