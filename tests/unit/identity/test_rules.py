"""Email normalisation and the password policy."""

from __future__ import annotations

import pytest

from prework.errors import ValidationFailed
from prework.identity.models import check_password_policy, legacy_email_forms, normalize_email


def _fullwidth(text: str) -> str:
    """ASCII letters as their full-width forms (U+FF21...), which NFKC maps back."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM\t", "alice@example.com"),
        (_fullwidth("ALICE") + "@" + _fullwidth("example") + ".com", "alice@example.com"),
        ("STRASSE@example.com", "strasse@example.com"),
        ("Straße@example.com", "strasse@example.com"),  # case folding, not lower()
        ("ﬁnn@example.com", "finn@example.com"),  # ligature (NFKC)
        ("x@example\u3002com", "x@example.com"),  # ideographic full stop
        ("x@example\uff61com", "x@example.com"),  # half-width ideographic full stop
        ("p@xn--bcher-kva.example", "p@bücher.example"),  # IDNA: U-labels
        ("P@BÜCHER.Example", "p@bücher.example"),
        ("u@Straße.de", "u@straße.de"),  # IDNA 2008 keeps ß in a domain
    ],
)
def test_normalize_email(raw: str, normal: str) -> None:
    assert normalize_email(raw) == normal


@pytest.mark.parametrize(
    "raw",
    ["alice@example.com", "x@example\u3002com", "p@xn--bcher-kva.example", "u@Straße.de"],
)
def test_normalize_email_is_idempotent(raw: str) -> None:
    assert normalize_email(normalize_email(raw)) == normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "forms"),
    [
        ("alice@example.com", ()),
        ("Alice@EXAMPLE.com", ()),
        ("x@example\u3002com", ("x@example\u3002com",)),
        ("p@bücher.example", ("p@xn--bcher-kva.example",)),
        ("p@XN--BCHER-KVA.example", ("p@xn--bcher-kva.example",)),
        ("u@straße.de", ("u@strasse.de", "u@xn--strae-oqa.de")),
    ],
)
def test_legacy_email_forms(raw: str, forms: tuple[str, ...]) -> None:
    """The guard keys the first releases may have used for this mailbox."""
    assert legacy_email_forms(raw) == forms


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "plain",
        "a@",
        "@b.com",
        "a b@example.com",
        "a@b@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_normalize_email_rejects(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_email(raw)
    assert info.value.code == "invalid_email"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("eleven char", "password_too_short"),
        ("x" * 1025, "password_too_long"),
        ("€" * 342, "password_too_long"),  # 342 characters, 1,026 bytes
        ("Alice@Example.com", "password_is_email"),
        ("  alice@example.com ", "password_is_email"),
        ("abc\ud800defghijkl", "invalid_password"),  # a lone surrogate from JSON
    ],
)
def test_password_policy_rejects(password: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_password_policy(password, email="alice@example.com")
    assert info.value.code == code
    assert password not in str(info.value.to_dict())


@pytest.mark.parametrize("password", ["twelve chars", "x" * 1024, "€" * 341, "ünïcödé pässwörd"])
def test_password_policy_accepts(password: str) -> None:
    check_password_policy(password, email="alice@example.com")
