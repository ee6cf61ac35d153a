"""The shared kernel every area builds on; it imports no area.

* :mod:`~prework.core.principal`: roles, the acting principal, the request context.
* :mod:`~prework.core.clock` and :mod:`~prework.core.ids`: time stamps and identifiers.
* :mod:`~prework.core.paging`: pages and opaque cursors.
* :mod:`~prework.core.audit`: the audit *writer*, the event item every change adds to
  its transaction (the audit area reads the log; every area writes it).
* :mod:`~prework.core.versioned`: optimistic locking of one versioned item.
"""
