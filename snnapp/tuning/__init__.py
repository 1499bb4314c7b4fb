"""Hyper-parameter search (grid, random, Bayesian) over the core's training function."""
