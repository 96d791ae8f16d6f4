"""Assembling the stages: window features, the model stage and the live runner."""
