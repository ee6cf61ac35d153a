"""The event bus port: publish past-tense events to topics, subscribe to topics.

Services publish an event after the transaction that made it has committed
(``team.created``, ``team.members_changed``, ...); real-time delivery and
notifications subscribe. Topics are short names such as ``org:<org id>``
(:func:`org_topic`): an event is scoped by its topic, so a subscriber to one
organization's topic never sees another organization's events.

Rules every adapter follows (the contract suite in ``tests/contract/pubsub``
checks them):

* An event is a JSON object of at most :data:`MAX_EVENT_BYTES` once encoded;
  anything else is refused before it is sent (``ValidationFailed`` /
  ``LimitExceeded``). A subscriber receives its own copy, decoded from JSON, as
  it would from another node.
* A subscription receives the events published to its topics after
  :meth:`PubSub.subscribe` returned, each at most once, in the order they
  were published on that topic. Delivery is fire-and-forget: an event nobody
  subscribes to is gone (the store, not the bus, is the record).
* A subscriber that falls :data:`DEFAULT_QUEUE_SIZE` events behind loses the
  events that do not fit and is told: iterating raises :class:`SubscriptionLagged`
  once, at the gap, after the events that did fit; it should reload what it
  shows, then may iterate again (a new ``async for`` on the same subscription).
* Closing a subscription (or leaving its ``async with``) ends its iteration;
  closing the bus ends every subscription.
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import orjson

from prework.errors import LimitExceeded, PreworkError, ValidationFailed

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "MAX_EVENT_BYTES",
    "MAX_TOPICS",
    "Message",
    "PubSub",
    "Subscription",
    "SubscriptionLagged",
    "encode_event",
    "org_topic",
    "validate_topic",
]

MAX_EVENT_BYTES: Final = 64 * 1024
MAX_TOPICS: Final = 100  # topics one subscription may name
DEFAULT_QUEUE_SIZE: Final = 1000
_TOPIC = re.compile(r"[A-Za-z0-9._:#-]{1,256}", re.ASCII)


class SubscriptionLagged(PreworkError):
    """The subscriber fell behind and lost ``details["dropped"]`` events."""

    code = "subscription_lagged"
    status = 503
    default_message = "Events were lost because the subscriber fell behind."


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    event: dict[str, Any]


def org_topic(org_id: str) -> str:
    """The topic of one organization's events."""
    return f"org:{org_id}"


def validate_topic(topic: str) -> str:
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise ValidationFailed(
            "A topic is 1..256 characters of A-Z a-z 0-9 . _ : # -.", code="invalid_topic"
        )
    return topic


def encode_event(event: Mapping[str, Any]) -> bytes:
    """``event`` as JSON; refuses what is not a JSON object or is too large."""
    if not isinstance(event, Mapping):
        raise ValidationFailed("An event is a JSON object.", code="invalid_event")
    try:
        data = orjson.dumps(event)
    except TypeError as exc:  # orjson.JSONEncodeError: not JSON-serializable
        raise ValidationFailed("An event must be JSON.", code="invalid_event") from exc
    if len(data) > MAX_EVENT_BYTES:
        raise LimitExceeded(
            f"An event is at most {MAX_EVENT_BYTES} bytes of JSON.",
            code="event_too_large",
            details={"max_bytes": MAX_EVENT_BYTES},
        )
    return data


class Subscription(abc.ABC):
    """Events of some topics, as an async iterator; also an async context manager."""

    def __init__(self, topics: Collection[str]) -> None:
        self.topics = frozenset(topics)

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Message]: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop receiving; iteration ends. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class PubSub(abc.ABC):
    @abc.abstractmethod
    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        """Send ``event`` to every current subscriber of ``topic``."""

    @abc.abstractmethod
    async def subscribe(self, topics: Collection[str]) -> Subscription:
        """A subscription to ``topics`` (1..:data:`MAX_TOPICS`), live when this returns."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the bus answers; raise Unavailable if not."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End every subscription and release the connection. Idempotent."""

    @staticmethod
    def check_topics(topics: Collection[str]) -> frozenset[str]:
        """The topics of a subscription, validated."""
        if isinstance(topics, str):
            raise TypeError("topics is a collection of topic names, not one string")
        named = frozenset(validate_topic(t) for t in topics)
        if not 1 <= len(named) <= MAX_TOPICS:
            raise ValidationFailed(
                f"A subscription names 1..{MAX_TOPICS} topics.", code="invalid_topic"
            )
        return named
