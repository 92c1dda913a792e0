"""The Python client: `VoiceClient` (signaling over the wire protocol) and the CLI
(`python -m client`). Media (aiortc) lives in `client.media` and is imported only by
those who need it."""

from client.connection import ClientError, EventStream, VoiceClient, user_from_name

__all__ = ["ClientError", "EventStream", "VoiceClient", "user_from_name"]
