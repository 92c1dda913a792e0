"""Answering a `webrtc_offer`, for rooms and calls alike: in a task of its own, since ICE
gathering takes a while and the connection keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from protocol.errors import ErrorCode, ProtocolError
from server.handlers.table import Request
from server.tasks import TaskSet


def spawn_answer(tasks: TaskSet, request: Request, answer: Callable[[], Awaitable[str]], *,
                 name: str, log: logging.Logger, what: str) -> None:
    """Reply `{sdp}` with what `answer()` gives, in a task the connection tracks (its
    `offers`); a ProtocolError is the reply, anything else is logged (`what failed: ...`)
    and answered `internal`."""
    conn = request.conn
    task = tasks.spawn(_answer(request, answer, log, what), name=name)
    conn.offers.add(task)
    task.add_done_callback(conn.offers.discard)


async def _answer(request: Request, answer: Callable[[], Awaitable[str]], log: logging.Logger,
                  what: str) -> None:
    try:
        sdp = await answer()
        request.ok(sdp=sdp)
    except ProtocolError as exc:
        request.fail(exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("%s failed: %s", what, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        request.fail(ProtocolError(ErrorCode.INTERNAL, f"could not answer the offer: {exc}"))
