"""The in-process event bus: one app node, the embedded default (``memory://``).

Each subscription has a bounded queue (made when a message waits, dropped when it
is drained: an idle subscription holds none); :meth:`MemoryPubSub.publish` puts a
copy of the event (decoded from its JSON, as another node would receive it) on the
queue of every subscription to the topic, without waiting for anyone. A full
queue drops the event and marks the gap (see :mod:`prework.pubsub.base`). A
subscription has one reader (its iterator waits on a future of its own).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import orjson

from prework.errors import Unavailable
from prework.pubsub.base import (
    DEFAULT_QUEUE_SIZE,
    Message,
    PubSub,
    Subscription,
    SubscriptionLagged,
    encode_event,
    validate_topic,
)

__all__ = ["MemoryPubSub"]


class _MemorySubscription(Subscription):
    """An idle subscription holds no queue and no event: the queue exists while
    messages wait, and the reader waits on a future of its own (a WebSocket client
    holds one of these for each document and channel it follows)."""

    def __init__(self, bus: MemoryPubSub, topics: frozenset[str], queue_size: int) -> None:
        super().__init__(topics)
        self._bus = bus
        self._queue: deque[Message | int] | None = None  # an int marks a gap of that many
        self._queued = 0
        self._size = queue_size
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _deliver(self, message: Message) -> None:
        if self._closed:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if self._queued >= self._size:
            if queue and isinstance(queue[-1], int):
                queue[-1] += 1
            else:
                queue.append(1)
        else:
            queue.append(message)
            self._queued += 1
        self._wake()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            head = self._queue.popleft()
            if not self._queue:
                self._queue = None
            if isinstance(head, int):
                raise SubscriptionLagged(details={"dropped": head})
            self._queued -= 1
            yield head

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue = None
            self._queued = 0
            self._bus._forget(self)
            self._wake()


class MemoryPubSub(PubSub):
    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[_MemorySubscription]] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the event bus is closed")

    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        validate_topic(topic)
        data = encode_event(event)
        self._check_open()
        for subscription in tuple(self._subscribers.get(topic, ())):
            subscription._deliver(Message(topic, orjson.loads(data)))

    async def subscribe(self, topics: Collection[str]) -> Subscription:
        named = self.check_topics(topics)
        self._check_open()
        subscription = _MemorySubscription(self, named, self._queue_size)
        for topic in named:
            self._subscribers.setdefault(topic, set()).add(subscription)
        return subscription

    def _forget(self, subscription: _MemorySubscription) -> None:
        for topic in subscription.topics:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[topic]

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True
        for subscription in {s for subs in self._subscribers.values() for s in subs}:
            await subscription.close()
