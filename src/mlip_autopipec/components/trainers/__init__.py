"""Trainers: fit a potential on all labels so far."""
