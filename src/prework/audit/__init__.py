"""The audit area: reading the organization's audit log (``/api/audit``).

Writing events is every area's business and lives in :mod:`prework.core.audit`.
"""
