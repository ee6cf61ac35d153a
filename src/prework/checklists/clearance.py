"""Whether work may start: the pure rules of the pre-work clearance.

No I/O and no clock: the dates are passed in. :func:`clearance_reasons` lists every
reason work may not start (none: cleared); :func:`planned_date_in` is a planned start's
calendar date in the organization's time zone.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prework.checklists.models import cert_key

__all__ = ["CLEARANCE_CODES", "Reason", "clearance_reasons", "planned_date_in"]

# every code a clearance Reason carries, in the order they are reported
CLEARANCE_CODES: Final = (
    "cancelled",
    "not_started",
    "not_submitted",
    "not_approved",
    "failed_critical",
    "missing_certification",
    "certification_unverified",
    "certification_expired",
    "signoffs_missing",
    "clearance_not_yet_valid",
    "clearance_expired",
    "clearance_voided",
)

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason work may not start: a stable code (:data:`CLEARANCE_CODES`), a
    human message and JSON details."""

    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": dict(self.details)}


_STATE_REASONS: Final[Mapping[str, tuple[str, str] | None]] = {
    "assigned": ("not_started", "the crew has not started the checklist"),
    "in_progress": ("not_submitted", "the checklist is not submitted"),
    "submitted": ("not_approved", "the submission awaits review"),
    "rejected": ("not_approved", "the submission was rejected"),
    "cancelled": ("cancelled", "the assignment is cancelled"),
    "approved": None,
}


def _parse_date(text: Any) -> datetime.date | None:
    if not isinstance(text, str) or _DATE.fullmatch(text) is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _certification_status(
    held: Sequence[Mapping[str, Any]], key: str, planned_date: datetime.date
) -> str | None:
    """The reason code of the best certification in ``held`` matching ``key``
    (None: one is verified and valid on ``planned_date``)."""
    best = 0  # index in _CERT_RANK: missing < unverified < expired
    for cert in held:
        if cert_key(str(cert.get("name", ""))) != key:
            continue
        if cert.get("verified_by") is None or cert.get("verified_at") is None:
            best = max(best, 1)
            continue
        expires = cert.get("expires_on")
        if expires is None:
            return None
        until = _parse_date(expires)  # unreadable: not provably valid
        if until is not None and until >= planned_date:
            return None
        best = 2
    return _CERT_RANK[best]


_CERT_RANK: Final = ("missing_certification", "certification_unverified", "certification_expired")
_CERT_MESSAGES: Final = {
    "missing_certification": "a crew member does not hold a required certification",
    "certification_unverified": "a crew member's certification is not verified",
    "certification_expired": "a crew member's certification expires before the planned date",
}


def clearance_reasons(
    *,
    state: str,
    crew: Sequence[str],
    signoffs: Mapping[str, Any],
    failed_critical: Sequence[str],
    required_certifications: Sequence[str],
    certifications: Mapping[str, Sequence[Mapping[str, Any]]],
    planned_date: datetime.date,
    today: datetime.date,
    valid_days: int,
    voided: Mapping[str, Any] | None,
) -> list[Reason]:
    """Every reason work may not start (empty: cleared), in :data:`CLEARANCE_CODES` order.

    * ``state`` (the assignment's): ``assigned`` -> ``not_started``, ``in_progress``
      -> ``not_submitted``, ``submitted`` / ``rejected`` -> ``not_approved``,
      ``cancelled`` -> ``cancelled``, ``approved`` -> none (details: ``state``).
    * ``failed_critical``: the approved (or latest) submission's (``item_ids``).
    * per crew member (crew order) and required certification (the given order),
      matched by :func:`cert_key`: none held -> ``missing_certification``, held
      but none verified -> ``certification_unverified``, verified but expiring
      before ``planned_date`` (``expires_on < planned_date``, or unreadable) ->
      ``certification_expired`` (details: ``user_id``, ``certification``). Of
      several matching certifications the best counts.
    * crew members without a sign-off in ``signoffs`` -> ``signoffs_missing``
      (``user_ids``, crew order).
    * the clearance holds ``planned_date`` .. ``planned_date + valid_days - 1``:
      ``today`` before -> ``clearance_not_yet_valid``, after ->
      ``clearance_expired`` (details: ``valid_from``, ``valid_until``).
    * ``voided`` ({by, at, reason}) -> ``clearance_voided`` (details: those).

    Raises ``ValueError`` for an unknown ``state`` or ``valid_days < 1``.
    """
    if state not in _STATE_REASONS:
        raise ValueError(f"unknown assignment state {state!r}")
    if valid_days < 1:
        raise ValueError("valid_days is at least 1")
    reasons: list[Reason] = []
    state_reason = _STATE_REASONS[state]
    if state_reason is not None:
        reasons.append(Reason(state_reason[0], state_reason[1], {"state": state}))
    if failed_critical:
        reasons.append(
            Reason(
                "failed_critical",
                "critical items failed",
                {"item_ids": list(failed_critical)},
            )
        )
    members = list(dict.fromkeys(crew))
    found: dict[str, list[Reason]] = {code: [] for code in _CERT_MESSAGES}
    required = list(dict.fromkeys(cert_key(name) for name in required_certifications))
    names = {cert_key(name): name for name in reversed(required_certifications)}
    for user_id in members:
        held = certifications.get(user_id) or ()
        for key in required:
            code = _certification_status(held, key, planned_date)
            if code is not None:
                details = {"user_id": user_id, "certification": names[key]}
                found[code].append(Reason(code, _CERT_MESSAGES[code], details))
    for code in _CERT_MESSAGES:
        reasons.extend(found[code])
    unsigned = [user_id for user_id in members if user_id not in signoffs]
    if unsigned:
        reasons.append(
            Reason("signoffs_missing", "crew members have not signed off", {"user_ids": unsigned})
        )
    valid_until = planned_date + datetime.timedelta(days=valid_days - 1)
    window = {"valid_from": planned_date.isoformat(), "valid_until": valid_until.isoformat()}
    if today < planned_date:
        reasons.append(
            Reason("clearance_not_yet_valid", "the clearance holds from the planned date", window)
        )
    elif today > valid_until:
        reasons.append(Reason("clearance_expired", "the clearance has expired", window))
    if voided is not None:
        reasons.append(
            Reason(
                "clearance_voided",
                "the clearance was voided",
                {k: voided.get(k) for k in ("by", "at", "reason")},
            )
        )
    return reasons


def planned_date_in(tz_name: str, planned_start_iso: str) -> datetime.date:
    """The calendar date of ``planned_start_iso`` (ISO 8601; ``Z`` or an offset;
    naive: UTC) in the IANA time zone ``tz_name`` (the organization's).

    Raises ``ValueError`` for an unknown time zone or an unreadable time.
    """
    try:
        zone = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz_name!r}") from exc
    moment = datetime.datetime.fromisoformat(planned_start_iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    try:
        return moment.astimezone(zone).date()
    except OverflowError as exc:  # past year 9999 (or before year 1) there
        raise ValueError("the time is out of the calendar's range") from exc
