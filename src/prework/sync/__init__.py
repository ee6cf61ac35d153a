"""Real-time collaborative editing of an assignment's answers document.

``json0`` is the operational-transformation type (pure: no I/O); the sync service,
its HTTP actions and the ShareDB-compatible WebSocket build on it.
"""
