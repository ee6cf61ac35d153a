"""Helpers for tests and benchmarks: real engines started on free loopback ports.

See :mod:`prework.testing.engines` (one module per engine). Nothing in the
application imports this package.
"""
