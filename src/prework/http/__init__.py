"""HTTP layer: routes, dependencies, middleware and the one error mapping.

Routes are thin: they parse input, call a service and shape the output. They
never touch adapters or raise ``HTTPException`` for business errors; they
raise (or let through) :mod:`prework.errors`, mapped in :mod:`prework.api.errors`.
"""
