"""The one free-text rule of names: every script and emoji, nothing invisible."""

from __future__ import annotations

import pytest

from prework.core.text import REFUSED_RANGES, refused_ranges, text_problem

ZWJ, ZWNJ = "\u200d", "\u200c"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    "text",
    [
        "Olive Owner",
        "Zoë Ørsted-Łukasiewicz",
        "李小龍",
        "Владимир",
        "محمد",
        "मोहनदास करमचंद",
        "ฐานข้อมูล",
        "Acme 🏗️ & Co.",
        "\U0001f469" + ZWJ + "\U0001f4bb",  # woman technologist
        "\U0001f468" + ZWJ + "\U0001f469" + ZWJ + "\U0001f467",  # family
        "\U0001f3f3\ufe0f" + ZWJ + "\U0001f308",  # rainbow flag: VS16 before the ZWJ
        "\U0001f469\U0001f3fd" + ZWJ + "\U0001f692",  # skin tone before the ZWJ
        "\u2764\ufe0f" + ZWJ + "\U0001f525",  # heart on fire
        SCOTLAND,
        "\U0001f1fa\U0001f1e6",  # a regional-indicator flag
        "می" + ZWNJ + "خواهم",  # Persian: ZWNJ is spelling
        "क्" + ZWNJ + "ष",  # Devanagari
        "\u3000全角",  # ideographic space
        "\U0001fae8",  # an emoji newer than some Unicode tables
    ],
)
def test_names_of_every_script_and_emoji_are_fine(text: str) -> None:
    assert text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("evil\u202egpj.exe", "invisible"),  # RIGHT-TO-LEFT OVERRIDE
        ("a\u202ab", "invisible"),
        ("a\u2066b\u2069", "invisible"),  # isolates
        ("a\u200eb", "invisible"),  # LEFT-TO-RIGHT MARK
        ("Ad\u200bmin", "invisible"),  # ZERO WIDTH SPACE
        ("Ad" + ZWJ + "min", "invisible"),  # ZWJ between letters
        ("Ad" + ZWNJ + "min", "invisible"),  # ZWNJ in Latin: no spelling needs it
        (ZWJ + "\U0001f4bb", "invisible"),  # ZWJ with no emoji before
        ("\U0001f469" + ZWJ, "invisible"),  # ... or after
        ("\U0001f469" + ZWJ + "x", "invisible"),
        ("a\u2060b", "invisible"),  # WORD JOINER
        ("\ufeffAcme", "invisible"),  # BYTE ORDER MARK
        ("so\u00adft", "invisible"),  # SOFT HYPHEN
        ("Acme\U000e0041\U000e0042", "invisible"),  # tag characters outside a flag
        ("\U000e0067\U000e0062\U000e007f", "invisible"),  # tags without the black flag
        ("line\u2028sep", "separators"),
        ("para\u2029sep", "separators"),
        ("bell\x07", "control"),
        ("csi\x9b", "control"),  # C1
        ("del\x7f", "control"),
        ("non\ufdd0char", "noncharacters"),
        ("non\uffffchar", "noncharacters"),
        ("non\U0010fffechar", "noncharacters"),
        ("lone\ud800", "surrogates"),
        ("priv\ue000ate", "private-use"),
    ],
)
def test_invisible_and_reordering_characters_are_refused(text: str, reason: str) -> None:
    problem = text_problem(text)
    assert problem is not None
    assert reason in problem
    assert text not in problem


def test_the_refused_ranges_table_is_this_python_s() -> None:
    assert list(REFUSED_RANGES) == refused_ranges(), (
        "regenerate prework.core.text.REFUSED_RANGES from refused_ranges()"
    )
    for lo, hi in REFUSED_RANGES[:: max(1, len(REFUSED_RANGES) // 10)]:
        assert text_problem(f"a{chr(lo)}b") is not None
        assert text_problem(f"a{chr(hi)}b") is not None
