"""Store port and its adapters; see :mod:`prework.store.base`."""
