"""Photos and documents: uploaded straight to object storage, then confirmed.

:mod:`prework.media.inspect` (what a file really is, an image's size and capture
time) and :mod:`prework.media.thumbnails` are pure and synchronous: no I/O of
their own beyond the stream or path they are given, no port, no framework; the
async service runs them in worker threads.
"""
