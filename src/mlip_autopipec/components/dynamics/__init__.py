"""Exploration dynamics that halt on high extrapolation grade."""
