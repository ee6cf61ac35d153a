"""Blob port and its adapters; see :mod:`prework.blobs.base`."""
