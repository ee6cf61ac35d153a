"""json0: the JSON operational-transformation type that ShareDB and its clients speak.

An operation is a list of components applied in order; a component is a dict with a
path ``p`` (object keys and list indices) and one instruction:

=============  =====================================================
``na``         add a number to the number at ``p``
``li``/``ld``  insert/delete the list element at ``p`` (both: replace)
``lm``         move the list element at ``p`` to index ``lm``
``oi``/``od``  insert/delete the object key at ``p`` (both: replace)
``si``/``sd``  insert/delete text in the string at ``p[:-1]``, at offset ``p[-1]``
=============  =====================================================

:func:`transform`, :func:`transform_x`, :func:`compose`, :func:`invert` and
:func:`normalize` give exactly what ot-json0 1.1.0 (the reference ShareDB ships
with) gives for the same valid operations, its quirks included: its string
components go through its ``text0`` subtype, and its ``append`` merges only
neighbouring components of one path. String offsets and lengths count UTF-16
code units, as JavaScript does, so an emoji typed in a browser lands where the
browser put it. ``tests/differential`` checks all of this against the real
package, run by node.

Where the reference is lax this module is strict. :func:`apply` refuses with
:class:`InvalidOp` (``invalid_op``), and changes nothing, an operation that does
not fit the document: a path through something that is not there or of the wrong
kind, an index past the end, a deletion whose value does not match what is
there, an insert over an existing key, ``na`` on a non-number, a string offset
inside a surrogate pair, a value that is not plain JSON (or holds a
``__proto__`` key, or is too big or too deep), too many components, and the
json0 subtype components (``t``/``o``) and root-path components, which this
document never needs. Numbers are kept as JavaScript sees them: an integral
float (and ``-0.0``) is an int, and integers stay within JavaScript's safe range.

Documents are never modified: :func:`apply` returns a new document that shares
every part the operation did not touch (the containers on each path are copied
once per call), so a failed operation leaves nothing behind and a snapshot can
be handed out while later operations apply. Values inside operations are
treated as immutable, too: results may share them with the arguments.
"""

from __future__ import annotations

from typing import Final

from prework.sync._apply import apply, apply_checked
from prework.sync._ot import (
    append,
    copy_component,
    invert_component,
    transform_component,
    transform_pair,
)
from prework.sync._text0 import utf16_len
from prework.sync._values import (
    DEFAULT_LIMITS,
    MAX_SAFE_INTEGER,
    Component,
    InvalidOp,
    Json,
    Limits,
    Op,
    Side,
    check_op,
    json_equal,
)

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_SAFE_INTEGER",
    "SERVER_LIMITS",
    "Component",
    "InvalidOp",
    "Json",
    "Limits",
    "Op",
    "Side",
    "apply",
    "apply_checked",
    "check_op",
    "compose",
    "invert",
    "json_equal",
    "normalize",
    "rebase",
    "transform",
    "transform_x",
    "utf16_len",
]

# for operations of the server's own making, such as a client's operation transformed
# over others (a deletion grows with the edits it now includes, a delete may split in
# two): sizes are not limited, only nesting (within what JSON encoding takes). A
# client's operation is checked with the client limits before it is transformed.
SERVER_LIMITS: Final = Limits(
    max_components=2**62, max_value_bytes=2**62, max_depth=200, max_key_length=2**62
)
_UNLIMITED: Final = SERVER_LIMITS


def invert(op: object) -> Op:
    """The operation that undoes ``op`` (ot-json0's ``invert``)."""
    return [invert_component(c) for c in reversed(check_op(op, _UNLIMITED))]


def compose(a: object, b: object) -> Op:
    """One operation doing ``a`` then ``b`` (ot-json0's ``compose``: ``b``'s
    components appended to ``a``'s, neighbours of one path merged)."""
    out = [copy_component(c) for c in check_op(a, _UNLIMITED)]
    for c in check_op(b, _UNLIMITED):
        append(out, c)
    return out


def normalize(op: object) -> Op:
    """``op`` with neighbouring components of one path merged (ot-json0's
    ``normalize`` of a list of components)."""
    out: Op = []
    for c in check_op(op, _UNLIMITED):
        append(out, c)
    return out


def transform_x(left: object, right: object) -> tuple[Op, Op]:
    """ot-json0's ``transformX``: ``(left', right')``, ``left'`` applying after
    ``right`` and ``right'`` after ``left`` (left wins ties)."""
    return transform_pair(check_op(left, _UNLIMITED), check_op(right, _UNLIMITED))


def transform(op: object, other: object, side: Side) -> Op:
    """``op`` transformed to apply after ``other`` (ot-json0's ``transform``;
    ``side`` breaks ties: the left one wins)."""
    if side not in ("left", "right"):
        raise InvalidOp("side must be 'left' or 'right'.")
    mine, theirs = check_op(op, _UNLIMITED), check_op(other, _UNLIMITED)
    if not theirs:
        return mine
    if len(mine) == 1 and len(theirs) == 1:
        return transform_component([], mine[0], theirs[0], side)
    if side == "left":
        return transform_pair(mine, theirs)[0]
    return transform_pair(theirs, mine)[1]


def rebase(op: Op, over: list[Op]) -> Op:
    """``op`` transformed over each of ``over`` in turn, ``op`` on the left (a server
    rebasing a client's operation over what was committed since it was made). For
    operations already checked (:func:`check_op`, or this module's own results): they
    are not checked again."""
    for other in over:
        if not other:
            continue
        if len(op) == 1 and len(other) == 1:
            op = transform_component([], op[0], other[0], "left")
        else:
            op = transform_pair(op, other)[0]
    return op
