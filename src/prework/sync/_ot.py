"""ot-json0's composition and transformation, line for line (its quirks too)."""

from __future__ import annotations

from typing import Any, Final

from prework.sync._apply import add, apply_checked
from prework.sync._text0 import text_compose, text_transform
from prework.sync._values import Component, InvalidOp, Op, Side, canonical, identical

__all__ = ["append", "copy_component", "invert_component", "transform_component", "transform_pair"]


def invert_component(c: Component) -> Component:
    out: Component = {"p": c["p"]}
    if "si" in c:
        out["sd"] = c["si"]
    if "sd" in c:
        out["si"] = c["sd"]
    if "oi" in c:
        out["od"] = c["oi"]
    if "od" in c:
        out["oi"] = c["od"]
    if "li" in c:
        out["ld"] = c["li"]
    if "ld" in c:
        out["li"] = c["ld"]
    if "na" in c:
        out["na"] = canonical(-c["na"])
    if "lm" in c:
        out["lm"] = c["p"][-1]
        out["p"] = [*c["p"][:-1], c["lm"]]
    return out


def copy_component(c: Component) -> Component:
    """ot-json0's ``clone`` of a component: values are never modified, so only
    the path (and a text subtype op) is copied."""
    out = dict(c)
    out["p"] = list(c["p"])
    if "o" in c:
        out["o"] = [dict(o) for o in c["o"]]
    return out


def _is_text(c: Component) -> bool:
    return "si" in c or "sd" in c


def _from_text(c: Component) -> None:
    """ot-json0's ``convertFromText``: a string component as a text0 subtype op
    (``si``/``sd`` stay on the component, as there)."""
    c["t"] = "text0"
    o: dict[str, Any] = {"p": c["p"].pop()}
    if "si" in c:
        o["i"] = c["si"]
    if "sd" in c:
        o["d"] = c["sd"]
    c["o"] = [o]


def _to_text(c: Component) -> None:
    """ot-json0's ``convertToText``."""
    o = c["o"][0]
    c["p"].append(o["p"])
    if "i" in o:
        c["si"] = o["i"]
    if "d" in o:
        c["sd"] = o["d"]
    c.pop("t", None)  # a second component from one conversion has none left
    c.pop("o", None)


def append(dest: Op, c: Component) -> None:
    """ot-json0's ``append``: ``c`` after ``dest``'s last component, merged with it
    when both act on one path."""
    c = copy_component(c)
    if not dest:
        dest.append(c)
        return
    last = dest[-1]
    both_text = _is_text(c) and _is_text(last)
    if both_text:
        _from_text(c)
        _from_text(last)
    if c["p"] == last["p"]:
        if "t" in c and "t" in last:
            last["o"] = text_compose(last["o"], c["o"])
            path = c["p"]
            for _ in range(len(last["o"]) - 1):
                c["o"] = [last["o"].pop()]
                c["p"] = list(path)
                _to_text(c)
                dest.append(c)
            _to_text(last)
        elif "na" in last and "na" in c:
            dest[-1] = {"p": last["p"], "na": add(last["na"], c["na"])}
        elif "li" in last and "li" not in c and "ld" in c and identical(c["ld"], last["li"]):
            # an insert straight followed by its delete is nothing
            if "ld" in last:
                del last["li"]
            else:
                dest.pop()
        elif "od" in last and "oi" not in last and "oi" in c and "od" not in c:
            last["oi"] = c["oi"]
        elif "oi" in last and "od" in c:
            if "oi" in c:
                last["oi"] = c["oi"]
            elif "od" in last:
                del last["oi"]
            else:
                dest.pop()
        elif "lm" in c and c["p"][-1] == c["lm"]:
            pass  # a move to where it is
        else:
            dest.append(c)
    else:
        if both_text:
            _to_text(c)
            _to_text(last)
        dest.append(c)


class _Undefined:
    """JavaScript's ``undefined`` read past the end of a path."""


_UNDEF: Final = _Undefined()


def _at(p: list[Any], i: int) -> Any:
    return p[i] if 0 <= i < len(p) else _UNDEF


def _lt(a: Any, b: Any) -> bool:
    return a is not _UNDEF and b is not _UNDEF and a < b


def _le(a: Any, b: Any) -> bool:
    return a is not _UNDEF and b is not _UNDEF and a <= b


def _common_length(a: Component, b: Component) -> int | None:
    """ot-json0's ``commonLengthForOps``."""
    alen, blen = len(a["p"]), len(b["p"])
    if "na" in a or "t" in a:
        alen += 1
    if "na" in b or "t" in b:
        blen += 1
    if alen == 0:
        return -1
    if blen == 0:
        return None
    alen -= 1
    blen -= 1
    ap, bp = a["p"], b["p"]
    for i in range(alen):
        if i >= blen or ap[i] != bp[i]:
            return None
    return alen


def _check_fit(c: Component, other: Component) -> None:
    """InvalidOp if ``c`` and ``other`` see one container as different kinds (a key
    into it and an index into it): they cannot both apply to one document. The
    reference would compare a string with a number there, as JavaScript does."""
    for mine, theirs in zip(c["p"], other["p"], strict=False):
        if type(mine) is not type(theirs):
            raise InvalidOp(
                "The operation does not fit the document the other one was made on "
                f"(a key and an index into one container: {mine!r}, {theirs!r})."
            )
        if mine != theirs:
            return


def transform_component(dest: Op, c: Component, other: Component, side: Side) -> Op:
    """ot-json0's ``transformComponent``: ``c`` transformed to apply after
    ``other``, appended to ``dest``."""
    _check_fit(c, other)
    c = copy_component(c)
    common = _common_length(other, c)
    common2 = _common_length(c, other)
    c_len, o_len = len(c["p"]), len(other["p"])
    if "na" in c or "t" in c:
        c_len += 1
    if "na" in other or "t" in other:
        o_len += 1
    cp, op = c["p"], other["p"]

    # c deletes something other changes: c deletes it as changed (to stay invertible)
    if common2 is not None and o_len > c_len and _at(cp, common2) == _at(op, common2):
        inner = dict(other)
        inner["p"] = op[c_len:]
        if "ld" in c:
            c["ld"] = apply_checked(c["ld"], [inner], lax=True)
        elif "od" in c:
            c["od"] = apply_checked(c["od"], [inner], lax=True)

    if common is not None:
        same_operand = c_len == o_len
        oc = other
        if _is_text(c) and _is_text(other):
            _from_text(c)
            oc = copy_component(other)
            _from_text(oc)
        if "t" in oc:
            if "t" in c:
                path = c["p"]
                for r in text_transform(c["o"][0], oc["o"][0], side):
                    c["o"] = [r]
                    c["p"] = list(path)
                    _to_text(c)
                    append(dest, c)
                return dest
        elif "na" in other:
            pass
        elif "li" in other and "ld" in other:
            if _at(op, common) == _at(cp, common):
                if not same_operand:
                    return dest
                if "ld" in c:
                    if "li" in c and side == "left":
                        c["ld"] = other["li"]  # both replace it: only one survives
                    else:
                        return dest
        elif "li" in other:
            if "li" in c and "ld" not in c and same_operand and _at(cp, common) == _at(op, common):
                if side == "right":  # li against li: left wins
                    cp[common] += 1
            elif _le(_at(op, common), _at(cp, common)):
                cp[common] += 1
            if "lm" in c and same_operand and op[common] <= c["lm"]:
                c["lm"] += 1
        elif "ld" in other:
            if "lm" in c and same_operand:
                if _at(op, common) == _at(cp, common):
                    return dest  # they deleted what we move
                at, frm, to = op[common], cp[common], c["lm"]
                if at < to or (at == to and frm < to):
                    c["lm"] -= 1
            if _lt(_at(op, common), _at(cp, common)):
                cp[common] -= 1
            elif _at(op, common) == _at(cp, common):
                if o_len < c_len:
                    return dest  # within the deleted element
                if "ld" in c:
                    if "li" in c:
                        del c["ld"]  # we replace, they delete: we insert
                    else:
                        return dest
        elif "lm" in other:
            if not _moved(c, other, common, same_operand, side):
                return dest
        elif "oi" in other and "od" in other:
            if _at(cp, common) == _at(op, common):
                if "oi" in c and same_operand:
                    if side == "right":
                        return dest  # left wins
                    c["od"] = other["oi"]
                else:
                    return dest  # they replaced it (or a parent of it)
        elif "oi" in other:
            if "oi" in c and _at(cp, common) == _at(op, common):
                if side == "left":
                    append(dest, {"p": c["p"], "od": other["oi"]})
                else:
                    return dest
        elif "od" in other and _at(cp, common) == _at(op, common):
            if not same_operand:
                return dest
            if "oi" in c:
                c.pop("od", None)
            else:
                return dest

    append(dest, c)
    return dest


def _moved(c: Component, other: Component, common: int, same_operand: bool, side: Side) -> bool:
    """ot-json0's ``lm`` case of ``transformComponent``: ``c`` adjusted for the
    move ``other``; False when ``c`` becomes nothing."""
    cp, op = c["p"], other["p"]
    if "lm" in c and same_operand:
        frm, to = cp[common], c["lm"]
        other_from, other_to = op[common], other["lm"]
        if other_from == other_to:
            return True
        if frm == other_from:  # they moved it: tie break
            if side == "left":
                cp[common] = other_to
                if frm == to:
                    c["lm"] = other_to
                return True
            return False
        if frm > other_from:
            cp[common] -= 1
        if frm > other_to:
            cp[common] += 1
        elif frm == other_to and other_from > other_to:
            cp[common] += 1
            if frm == to:
                c["lm"] += 1
        if to > other_from or (to == other_from and to > frm):
            c["lm"] -= 1
        if to > other_to:
            c["lm"] += 1
        elif to == other_to:
            if (other_to > other_from and to > frm) or (other_to < other_from and to < frm):
                if side == "right":
                    c["lm"] += 1
            elif to > frm:
                c["lm"] += 1
            elif to == other_from:
                c["lm"] -= 1
        return True
    frm, to = op[common], other["lm"]
    at = _at(cp, common)
    if at is _UNDEF:
        return True
    if "li" in c and "ld" not in c and same_operand:
        if at > frm:
            cp[common] -= 1
        if at > to:
            cp[common] += 1
        return True
    # whatever cares where its element went: ld, ld+li, si, sd, na, oi, od, oi+od,
    # and any li beneath the moved element
    if at == frm:
        cp[common] = to
    else:
        if at > frm:
            cp[common] -= 1
        if at > to or (at == to and frm > to):
            cp[common] += 1
    return True


def transform_pair(left: Op, right: Op) -> tuple[Op, Op]:
    """bootstrapTransform's ``transformX`` on checked operations."""
    new_right: Op = []
    for rc in right:
        component: Component | None = rc
        new_left: Op = []
        k = 0
        while k < len(left):
            assert component is not None
            next_c: Op = []
            transform_component(new_left, left[k], component, "left")
            transform_component(next_c, component, left[k], "right")
            k += 1
            if len(next_c) == 1:
                component = next_c[0]
            elif not next_c:
                for rest in left[k:]:
                    append(new_left, rest)
                component = None
                break
            else:
                done_left, done_right = transform_pair(left[k:], next_c)
                for lc in done_left:
                    append(new_left, lc)
                for r in done_right:
                    append(new_right, r)
                component = None
                break
        if component is not None:
            append(new_right, component)
        left = new_left
    return left, new_right
