"""One module per area, each exposing ``router`` (mounted in :mod:`prework.app`)."""
