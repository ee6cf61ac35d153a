"""The web shell every area's routes run in.

* ``middleware.py``: request ids, the access log, body limits, the last-resort 500.
* ``errors.py``: the one mapping of :mod:`prework.errors` to HTTP answers.
* ``deps.py``: dependencies for settings, ports and each area's services.
* ``security.py``: the bearer token, the authenticated principal, the request context.
* ``schemas.py``: the shared request/response pieces (strict bodies, pages, ids).
* ``versioning.py``: optimistic locking over HTTP (``If-Match`` in, ``ETag`` out).
* ``health.py``: liveness and readiness probes.
* ``blobs.py``: the file blob engine's presigned upload and download URLs.

Routes are thin: they parse input, call a service and shape the output. They
never touch adapters or raise ``HTTPException`` for business errors; they
raise (or let through) :mod:`prework.errors`, mapped in :mod:`prework.http.errors`.
"""
