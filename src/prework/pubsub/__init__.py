"""The event bus port (:mod:`~prework.pubsub.base`) and its adapters.

``memory://`` (:mod:`~prework.pubsub.memory`): in-process, the embedded default and
one app node. A Redis adapter joins it for several nodes (the real-time issue).
"""
