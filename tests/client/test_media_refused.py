"""A refused offer leaves no peer connection (and no ICE sockets) behind in the client."""

from __future__ import annotations

import pytest

from client.connection import ClientError, VoiceClient
from client.media import MemberMedia
from tests.support.server import running_server


async def test_a_refused_offer_closes_the_clients_peer_connection() -> None:
    async with (
        running_server(media=True) as server,
        VoiceClient.connect(server.url, user="host", name="Host") as host,
        VoiceClient.connect(server.url, user="stranger", name="S") as stranger,
    ):
        room = (await host.create_room("x"))["room"]["id"]
        media = MemberMedia(stranger, room)  # never joined: the offer is refused
        with pytest.raises(ClientError) as refused:
            await media.start(speaking=False)
        assert refused.value.code == "not_in_room"
        assert media.media is None
        await media.close()
