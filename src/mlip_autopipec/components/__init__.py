"""Pluggable parts of the loop, each behind a small interface (see `base.py`)."""
