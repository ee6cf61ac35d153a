"""Helpers for tests and benchmarks; nothing in the application imports this package.

* :mod:`prework.testing.engines`: real engines started on free loopback ports
  (one module per engine, plus the process helper they share).
* :mod:`prework.testing.dynamodb_tables`: Prework's DynamoDB tables made once
  per test session and leased to one test at a time, emptied in between.
"""
