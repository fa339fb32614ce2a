"""Benchmark support inside the package: the bulk data generator and the HTTP-stack ceiling route.

The load generator, scenarios and results live in the repository's top-level `bench/` folder.
"""
