"""The identity area: accounts, sessions, organizations, members, profiles, invitations.

``routes.py`` (``/api/auth``, ``/api/users``, ``/api/profiles``, ``/api/orgs``)
calls the services (``sessions``, ``registration``, ``invitations``, ``users``,
``orgs``, ``profiles``), built together as :class:`~prework.identity.services.Identity`
by :mod:`prework.bootstrap`. ``models.py`` holds the pure records and rules,
``repository.py`` every key and item shape, ``permissions.py`` the area's actions.
"""
