"""helo-stream: real-time emotion-distribution recognition from wearable sensors."""

#: The version, written only here: pyproject.toml reads it (``dynamic = ["version"]``) and
#: ``helo-stream --version``, checkpoints and reports take it from here.
__version__ = "0.1.0"
