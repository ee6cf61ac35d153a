"""Who may do what: the one permission matrix and the check every service call makes.

* :mod:`~prework.authz.roles`: named groups of roles areas grant actions to.
* :mod:`~prework.authz.matrix`: merges every area's declared actions
  (``<area>/permissions.py``) into THE matrix, pure checks, and the rendering
  of ``docs/permissions.md``.
* :mod:`~prework.authz.authorize`: the check services call; a denial is audited.
"""
