"""The client's requests, one module per group of the protocol, each a `Transport` subclass
that `VoiceClient` combines: `rooms` (rooms, seats, moderation, chat, the media offer).
The calls, follow and matching verbs get modules of their own here, the same way.
"""
