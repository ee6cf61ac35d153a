"""The identity services of one app, built together by :mod:`prework.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from prework.identity.invitations import InvitationService
from prework.identity.orgs import OrgService
from prework.identity.passwords import Passwords
from prework.identity.profiles import ProfileService
from prework.identity.registration import RegistrationService
from prework.identity.sessions import SessionService
from prework.identity.tokens import TokenService
from prework.identity.users import UserService

__all__ = ["Identity"]


@dataclass(frozen=True, slots=True)
class Identity:
    sessions: SessionService
    registration: RegistrationService
    invitations: InvitationService
    users: UserService
    orgs: OrgService
    profiles: ProfileService
    passwords: Passwords
    tokens: TokenService

    async def start(self) -> None:
        await self.passwords.warm_up()

    def close(self) -> None:
        self.passwords.close()
