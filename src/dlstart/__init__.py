"""dlstart: start deep-learning projects right."""

__version__ = "0.2.0"
