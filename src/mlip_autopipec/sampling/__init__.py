"""Sampling of configurations beyond plain MD: compositions of an alloy's lattice for the initial data
(`compositions`) and atom-swap Monte Carlo that changes the chemical order during exploration (`swaps`)."""
