"""Text as JavaScript counts it (UTF-16 code units), and ot-json0's ``text0``
subtype, through which json0's string components are composed and transformed.

Components here are text0's: ``{"p": offset, "i": inserted}`` or
``{"p": offset, "d": deleted}``.
"""

from __future__ import annotations

from typing import Any

from prework.sync._values import InvalidOp, Side

__all__ = [
    "from_units",
    "inject16",
    "slice16",
    "text_compose",
    "text_position",
    "text_transform",
    "to_units",
    "utf16_len",
]

TextComponent = dict[str, Any]


def utf16_len(s: str) -> int:
    """The length of ``s`` in UTF-16 code units (JavaScript's ``length``)."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def to_units(s: str) -> bytes:
    return s.encode("utf-16-le", "surrogatepass")


def from_units(units: bytes) -> str:
    return units.decode("utf-16-le", "surrogatepass")


def slice16(s: str, start: int, end: int | None = None) -> str:
    """JavaScript's ``s.slice(start, end)`` for ``0 <= start``, ``end``."""
    if s.isascii():
        return s[start:end]
    units = to_units(s)
    return from_units(units[2 * start : None if end is None else 2 * end])


def inject16(s: str, pos: int, insert: str) -> str:
    """ot-json0's ``strInject``: ``insert`` into ``s`` at UTF-16 offset ``pos``."""
    return slice16(s, 0, pos) + insert + slice16(s, pos)


def text_append(op: list[dict[str, Any]], c: dict[str, Any]) -> None:
    """text0's ``append``."""
    if c.get("i") == "" or c.get("d") == "":
        return
    if not op:
        op.append(c)
        return
    last = op[-1]
    if "i" in last and "i" in c and last["p"] <= c["p"] <= last["p"] + utf16_len(last["i"]):
        op[-1] = {"i": inject16(last["i"], c["p"] - last["p"], c["i"]), "p": last["p"]}
    elif "d" in last and "d" in c and c["p"] <= last["p"] <= c["p"] + utf16_len(c["d"]):
        op[-1] = {"d": inject16(c["d"], last["p"] - c["p"], last["d"]), "p": c["p"]}
    else:
        op.append(c)


def text_compose(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(a)
    for c in b:
        text_append(out, c)
    return out


def text_position(pos: int, c: dict[str, Any], insert_after: bool) -> int:
    """text0's ``transformPosition``."""
    if "i" in c:
        if c["p"] < pos or (c["p"] == pos and insert_after):
            return pos + utf16_len(c["i"])
        return pos
    if pos <= c["p"]:
        return pos
    at: int = c["p"]
    if pos <= at + utf16_len(c["d"]):
        return at
    return pos - utf16_len(c["d"])


def text_transform(c: dict[str, Any], other: dict[str, Any], side: Side) -> list[dict[str, Any]]:
    """text0's ``transformComponent`` of one component by another."""
    dest: list[dict[str, Any]] = []
    if "i" in c:
        text_append(dest, {"i": c["i"], "p": text_position(c["p"], other, side == "right")})
    elif "i" in other:
        s = c["d"]
        if c["p"] < other["p"]:
            text_append(dest, {"d": slice16(s, 0, other["p"] - c["p"]), "p": c["p"]})
            s = slice16(s, other["p"] - c["p"])
        if s != "":
            text_append(dest, {"d": s, "p": c["p"] + utf16_len(other["i"])})
    else:
        c_len, o_len = utf16_len(c["d"]), utf16_len(other["d"])
        if c["p"] >= other["p"] + o_len:
            text_append(dest, {"d": c["d"], "p": c["p"] - o_len})
        elif c["p"] + c_len <= other["p"]:
            text_append(dest, c)
        else:  # they overlap
            kept = ""
            if c["p"] < other["p"]:
                kept = slice16(c["d"], 0, other["p"] - c["p"])
            if c["p"] + c_len > other["p"] + o_len:
                kept += slice16(c["d"], other["p"] + o_len - c["p"])
            start, end = max(c["p"], other["p"]), min(c["p"] + c_len, other["p"] + o_len)
            mine = slice16(c["d"], start - c["p"], end - c["p"])
            theirs = slice16(other["d"], start - other["p"], end - other["p"])
            if mine != theirs:
                raise InvalidOp("Two deletions delete different text in the same place.")
            if kept != "":
                text_append(dest, {"d": kept, "p": text_position(c["p"], other, False)})
    return dest
