"""Algorithms that make structures to explore or label."""
