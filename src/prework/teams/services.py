"""The teams services of one app, built together by :mod:`prework.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from prework.teams.service import TeamService

__all__ = ["Teams"]


@dataclass(frozen=True, slots=True)
class Teams:
    teams: TeamService
