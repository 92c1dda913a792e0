"""The server's parts wired together: store -> RoomService -> Delivery (+ MediaEngine,
Cluster) -> Gateway.

`run_server.py` (the command line) and the tests' in-process servers both build through here,
so a test runs the same stack a user does.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from media.catalogue import Catalogue
from rooms.values import Actor
from server.delivery import Delivery
from server.gateway import Gateway
from server.handlers.calls import CallHandlers
from server.handlers.matching import MatchHandlers
from server.handlers.people import PeopleHandlers
from server.handlers.props import PropsHandlers
from server.handlers.recording import build_recording
from server.handlers.rooms import RoomHandlers
from server.handlers.session import SessionHandlers
from server.handlers.table import HandlerTable
from server.metrics import Metrics
from server.settings import Settings
from server.streams import advertised_host, build_listening
from server.tasks import TaskSet, maybe_await
from server.user_delivery import UserDelivery
from services.calls import CallService
from services.matching import MatchService
from services.people import PeopleService
from services.props import PropsService
from services.rooms import RoomService
from store.base import RoomStore
from store.calls import CallStore, MemoryCalls
from store.match import MatchStore, MemoryMatch
from store.memory import MemoryStore
from store.people import MemoryPeople, PeopleStore
from store.presence import MemoryPresence, Presence
from store.user_events import notice

log = logging.getLogger(__name__)


def make_store(settings: Settings) -> RoomStore:
    if settings.redis is None:
        return MemoryStore()
    # Imported only when asked for: a one-node server needs no Redis module at all.
    from store.redis import RedisStore

    return RedisStore(settings.redis, settings.node_id, timeout=settings.store_timeout)


def make_people(store: RoomStore) -> tuple[PeopleStore, Presence]:
    """Profiles, relations and presence beside the rooms: in Redis when the rooms are."""
    if isinstance(store, MemoryStore):
        return MemoryPeople(), MemoryPresence()
    from store.people_redis import RedisPeople
    from store.presence import RedisPresence
    from store.redis import RedisStore

    assert isinstance(store, RedisStore)
    return RedisPeople(store), RedisPresence(store)


def make_calls(store: RoomStore) -> tuple[CallStore, Any]:
    """The call store, and how personal batches reach other nodes (None: one node)."""
    if isinstance(store, MemoryStore):
        return MemoryCalls(), None
    from store.calls_redis import RedisCalls
    from store.redis import RedisStore
    from store.user_channel import UserChannel

    assert isinstance(store, RedisStore)
    channel = UserChannel(store)
    return RedisCalls(store, channel), channel.publish


def make_match(store: RoomStore, calls: CallStore, people: PeopleStore,
               presence: Presence) -> MatchStore:
    """The match queue: one node's, or shared by every node in Redis."""
    if isinstance(store, MemoryStore):
        return MemoryMatch(calls, people, presence)
    from store.match_redis import RedisMatch
    from store.redis import RedisStore

    assert isinstance(store, RedisStore)
    return RedisMatch(store)


def load_media_engine() -> type[Any] | None:
    """media.engine.MediaEngine, or None when this checkout has no media engine."""
    try:
        module = importlib.import_module("media.engine")
    except ModuleNotFoundError as exc:
        if exc.name not in ("media.engine", "media"):
            raise  # a dependency of the engine is missing: that is an install problem
        return None
    engine: type[Any] = module.MediaEngine
    return engine


def sweep_interval(settings: Settings) -> float:
    """How often grace deadlines are checked: a second, or finer for short graces (tests)."""
    shortest = min(settings.grace, settings.host_grace)
    return max(0.02, min(1.0, shortest / 4))


def call_sweep_interval(settings: Settings) -> float:
    """How often ring timeouts and call graces are checked: as rooms', finer for short ones."""
    shortest = min(settings.grace, settings.ring_timeout)
    return max(0.02, min(1.0, shortest / 4))


@dataclass
class App:
    settings: Settings
    store: RoomStore
    service: RoomService
    gateway: Gateway
    media: Any | None = None
    cluster: Any | None = None  # cluster.cluster.Cluster with --redis
    people: PeopleService | None = None
    calls: CallService | None = None
    users: UserDelivery | None = None
    matching: MatchService | None = None
    listening: Any | None = None  # server.listening.ListenHub: the HTTP listeners
    recordings: Any | None = None  # server.recording.Recordings: this node's recorders
    edge: Any | None = None  # server.edge.EdgeListeners with --redis: listeners of others' rooms
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def port(self) -> int:
        return self.gateway.port

    async def start(self) -> None:
        await self.service.start()
        if self.calls is not None:
            await self.calls.start()
        await self.gateway.start()
        if self.cluster is not None:
            # Other nodes pull this node's listen.ogg for their own HTTP listeners.
            self.cluster.nodes.info["http"] = [
                advertised_host(self.settings.host, self.settings.announce_address), self.port]
            if self.edge is not None:
                await self.edge.start()  # its relay address goes into the node's info
            await self.cluster.start()
        self._tasks.append(asyncio.create_task(
            self.service.run_sweeper(sweep_interval(self.settings)), name="sweeper"))
        if self.calls is not None:
            self._tasks.append(asyncio.create_task(
                self.calls.run_sweeper(call_sweep_interval(self.settings)),
                name="call-sweeper"))
        if self.matching is not None:
            self._tasks.append(asyncio.create_task(self.matching.run(), name="matching"))

    async def stop(self) -> None:
        """Stop taking connections, close clients with 1001, then release everything."""
        if self.listening is not None:
            await self.listening.close()  # HTTP listeners' streams end (they are no websockets)
        await self.gateway.stop()
        if self.recordings is not None:
            await self.recordings.close()  # files get their last pages before the media goes
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.edge is not None:
            await self.edge.close()
        if self.cluster is not None:
            await self.cluster.close()
        if self.media is not None:
            await maybe_await(self.media.close())
        if self.calls is not None:
            await self.calls.close()
        await self.service.close()


async def build(settings: Settings, *, media: bool | None = None) -> App:
    """Every part of a server, not yet serving. `media=False` leaves the engine out."""
    store = make_store(settings)
    service = RoomService(store, grace=settings.grace, host_grace=settings.host_grace,
                          max_rooms_per_host=settings.max_rooms_per_host,
                          offers_in_flight=settings.offers_in_flight,
                          store_timeout=settings.store_timeout)
    delivery = Delivery(Metrics(), TaskSet())
    # The service hands the delivery what nobody asked for: the sweeper's and other nodes'
    # batches.
    service.set_sink(delivery.deliver)
    engine = None
    want_media = settings.media if media is None else media
    if want_media:
        engine_class = load_media_engine()
        if engine_class is None:
            log.warning("no media engine in this checkout (media/engine.py): signaling only")
        else:
            engine = engine_class(settings, on_levels=delivery.levels)
    cluster = make_cluster(settings, store, service, delivery, engine)
    delivery.attach(media=engine, cluster=cluster)
    edge = make_edge(settings, cluster, engine, delivery)
    people_store, presence = make_people(store)
    people = PeopleService(people_store, presence, settings.apps)
    users = UserDelivery(delivery.subscriptions, delivery.metrics, delivery.tasks)
    call_store, publish = make_calls(store)
    calls = CallService(call_store, people_store, presence, settings.apps,
                        ring_timeout=settings.ring_timeout, grace=settings.grace,
                        node_id=settings.node_id)
    # Other nodes' batches and the sweeper's go where a request's go, on this node.
    calls.set_sink(users.deliver_here)
    users.attach(media=engine, publish=publish)
    if cluster is not None:
        connect_calls(cluster, call_store, presence, calls, users)
    matching = MatchService(make_match(store, call_store, people_store, presence), call_store,
                            people_store, presence, node_id=settings.node_id,
                            rooms=service.get_room)
    matching.set_sink(users.deliver_here)
    if cluster is not None:
        # After the calls' hook: the dead node's connections have left presence by then.
        cluster.node_lost_hooks.append(matching.node_lost)
        cluster.back_hooks.append(matching.restore)
    # Registration order is closing order: the session's closer (presence) goes first.
    handlers = HandlerTable()
    SessionHandlers(settings, delivery, people, presence).register(handlers)
    RoomHandlers(service, delivery, delivery.tasks, media=engine, cluster=cluster,
                 edge=edge) \
        .register(handlers)
    PeopleHandlers(people, users).register(handlers)
    CallHandlers(calls, users, delivery.tasks, media=engine, cluster=cluster) \
        .register(handlers)
    MatchHandlers(matching, delivery.metrics).register(handlers)
    make_props(settings, service, delivery, users, call_store, engine).register(handlers)
    listening, listen_route = build_listening(settings.secret, service.get_room, engine, cluster)
    recordings, recording_route = build_recording(settings, service, delivery, engine, cluster,
                                                  handlers)
    gateway = Gateway(settings, delivery, handlers, media=engine,
                      routes=[listen_route, recording_route],
                      store_ping=getattr(store, "ping", None),
                      # A user's budget is split over the nodes they are connected to.
                      user_nodes=presence.nodes_of if cluster is not None else None)
    return App(settings, store, service, gateway, engine, cluster, people=people, calls=calls,
               users=users, listening=listening,
               recordings=recordings, edge=edge, matching=matching)


def make_props(settings: Settings, service: RoomService, delivery: Delivery,
               users: UserDelivery, call_store: CallStore, engine: Any | None) -> PropsHandlers:
    """Props in rooms and calls. Sounds and music are read from the catalogue folders
    (unreadable files skipped with a warning); the engine plays them and reports a track
    that ended."""
    catalogue = Catalogue.load(settings.sounds, settings.music)
    props = PropsService(service, catalogue, calls=call_store, node_id=settings.node_id)
    handlers = PropsHandlers(props, delivery, users, media=engine)
    if engine is not None:
        engine.use_catalogue(catalogue, on_music_ended=handlers.music_ended)
    return handlers


def connect_calls(cluster: Any, call_store: CallStore, presence: Presence, calls: CallService,
                  users: UserDelivery) -> None:
    """A cluster owns calls' media too; a dead node's connections leave presence (its users'
    calls hold them for the grace); a node taken for dead writes its connections back."""
    from store.presence import RedisPresence

    assert isinstance(presence, RedisPresence)

    async def announce(call_id: str) -> None:
        # The call's media moved: both parties get its state and offer again.
        stored = await call_store.load(call_id)
        if stored is not None:
            await users.deliver(notice(stored.call))

    async def node_lost(node_id: str) -> None:
        for user in await presence.take_node(node_id):
            for batch in await calls.connection_lost(user):
                await users.deliver(batch)

    async def back() -> None:
        # Taken for dead, our users were held in their calls: they are here after all.
        for user in await presence.restore():
            for batch in await calls.connection_back(user):
                await users.deliver(batch)

    cluster.serve_calls(call_store, announce)
    cluster.node_lost_hooks.append(node_lost)
    cluster.back_hooks.append(back)


def make_edge(settings: Settings, cluster: Any | None, engine: Any | None,
              delivery: Delivery) -> Any | None:
    """With a cluster and media: listeners of rooms whose media another node owns are
    answered here and fed one relayed copy of the room's mix (server/edge.py)."""
    if cluster is None or engine is None:
        return None
    from server.edge import EdgeListeners

    edge = EdgeListeners(settings, cluster, engine,
                         advertised=advertised_host(settings.host, settings.announce_address))
    delivery.followers.append(edge.follow)
    engine.extra_stats.append(edge.stats)
    return edge


def make_cluster(settings: Settings, store: RoomStore, service: RoomService, delivery: Delivery,
                 engine: Any | None) -> Any | None:
    """With Redis: media ownership, offer forwarding and the node registry (cluster.cluster)."""
    if settings.redis is None:
        return None
    from cluster.cluster import Cluster
    from protocol.schema import JoinRoom
    from store.redis import RedisStore

    assert isinstance(store, RedisStore)

    async def presence_lost(room_id: str, user: str) -> None:
        # The user's connection died with another node: grace starts as for a local drop.
        outcome = await service.connection_lost(Actor(user, user), room_id)
        await delivery.deliver_outcome(room_id, outcome)

    async def presence_back(room_id: str, user: str) -> None:
        # This node was taken for dead while its member stayed connected: join again from
        # the same connection, which takes an away seat back.
        conn = delivery.subscriptions.subscriber(room_id, user)
        if conn is None or conn.closing:
            return
        outcome = await service.execute(Actor(user, conn.name or user, conn.id),
                                        JoinRoom(room_id))
        await delivery.deliver_outcome(room_id, outcome)

    def serves(room_id: str) -> bool:
        # Other nodes' batches matter here only for rooms with local members or local media.
        return delivery.serves(room_id) or (engine is not None and room_id in engine.rooms)

    store.interested = serves
    return Cluster(store, engine, on_presence_lost=presence_lost,
                   on_presence_back=presence_back)


def describe(settings: Settings) -> Mapping[str, Any]:
    """What a starting server logs about itself (never the secret)."""
    return {
        "node": settings.node_id,
        "store": "redis" if settings.redis else "memory",
        "auth": "token" if settings.secret else "development (no secret)",
        "metrics": "bearer token" if settings.metrics_token else "open",
        "grace": settings.grace,
        "host_grace": settings.host_grace,
    }
