"""helo-stream: real-time emotion-distribution recognition from wearable sensors."""

__version__ = "0.1.0"
