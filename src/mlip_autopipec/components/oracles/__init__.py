"""Oracles: reference energies, forces and stress."""
