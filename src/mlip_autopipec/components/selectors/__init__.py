"""Selectors: choose the candidates worth labelling."""
