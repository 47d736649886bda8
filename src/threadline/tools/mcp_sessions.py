"""MCP sessions kept open between calls, one per server, tenant and credentials.

Opening a session costs a connection and the `initialize` handshake, often more than the call
itself (about 150 ms to a remote server). A turn that lists a server's tools and calls three of
them, and the turns after it, reuse one session instead.

Each session is owned by a task of its own: the SDK's transports hold anyio task groups, which
must be left by the task that entered them, so the owner enters the connection, hands out the
client, and leaves when told to close. Callers use the client from their own tasks (the SDK
pairs concurrent requests by their JSON-RPC ids).

Bounds: at most `max_sessions` are kept; a session idle for `idle_seconds` is closed; when all
kept sessions are busy, a call gets a connection of its own, closed when it returns. A session
that fails in any way is dropped, never reused. A session is shared only by calls that present
the same tenant, URL and headers (credentials included), so nothing crosses tenants.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from mcp import Client

from threadline.tools.base import McpServer

Connect = Callable[[McpServer], AbstractAsyncContextManager[Client]]
Key = tuple[str, str, str]


@dataclass(slots=True)
class Lease:
    client: Client
    reused: bool
    """Whether an earlier call used this session: a failure may then mean it went stale."""


@dataclass(slots=True, eq=False)
class _Session:
    key: Key
    ready: asyncio.Future[Client]
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    owner: asyncio.Task[None] | None = None
    busy: int = 0
    uses: int = 0
    idle_since: float = 0.0
    broken: bool = False


class McpSessionPool:
    def __init__(
        self,
        connect: Connect,
        *,
        max_sessions: int = 64,
        idle_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._max = max_sessions
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._sessions: OrderedDict[Key, _Session] = OrderedDict()
        self._reaper: asyncio.Task[None] | None = None

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    @asynccontextmanager
    async def lease(self, server: McpServer, tenant: str) -> AsyncIterator[Lease]:
        """A client for `server`: a kept session when one is free to share, else a new one.
        An exception out of the block drops the session."""
        if self._max <= 0 or self._idle_seconds <= 0:
            async with self._connect(server) as client:
                yield Lease(client, reused=False)
            return
        session = self._session_for(_key(server, tenant), server)
        if session is None:  # every kept session is busy with other servers: one of its own
            async with self._connect(server) as client:
                yield Lease(client, reused=False)
            return
        session.busy += 1
        reused = session.uses > 0
        session.uses += 1
        try:
            client = await asyncio.shield(session.ready)
            yield Lease(client, reused)
        except BaseException:
            self._drop(session)
            raise
        finally:
            session.busy -= 1
            session.idle_since = self._clock()

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        sessions = list(self._sessions.values())
        for session in sessions:
            self._drop(session)
        owners = [s.owner for s in sessions if s.owner is not None]
        if owners:
            await asyncio.wait(owners, timeout=5)

    def _session_for(self, key: Key, server: McpServer) -> _Session | None:
        session = self._sessions.get(key)
        if session is not None and not session.broken:
            self._sessions.move_to_end(key)
            return session
        if len(self._sessions) >= self._max and not self._evict_idle():
            return None
        session = _Session(key, asyncio.get_running_loop().create_future())
        # A fresh context: the owner outlives the request that opened it, and must not log
        # under that request's id.
        session.owner = asyncio.create_task(
            self._own(session, server), context=contextvars.Context()
        )
        self._sessions[key] = session
        self._start_reaper()
        return session

    async def _own(self, session: _Session, server: McpServer) -> None:
        try:
            async with self._connect(server) as client:
                session.ready.set_result(client)
                await session.closing.wait()
        except BaseException as exc:
            if not session.ready.done():
                session.ready.set_exception(exc)
                session.ready.exception()  # retrieved: the callers waiting on it re-raise it
            if not isinstance(exc, Exception):
                raise
        finally:
            session.broken = True
            if self._sessions.get(session.key) is session:
                del self._sessions[session.key]

    def _drop(self, session: _Session) -> None:
        session.broken = True
        session.closing.set()
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]
        if not session.ready.done() and session.owner is not None:
            session.owner.cancel()  # still connecting

    def _evict_idle(self) -> bool:
        for session in self._sessions.values():  # least recently used first
            if session.busy == 0:
                self._drop(session)
                return True
        return False

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), context=contextvars.Context())

    async def _reap(self) -> None:
        while self._sessions:
            await asyncio.sleep(max(self._idle_seconds / 4, 0.05))
            deadline = self._clock() - self._idle_seconds
            for session in list(self._sessions.values()):
                if session.busy == 0 and session.idle_since and session.idle_since <= deadline:
                    self._drop(session)


def _key(server: McpServer, tenant: str) -> Key:
    headers = "\n".join(f"{k.lower()}:{v}" for k, v in sorted(server.headers.items()))
    # The credentials stay out of the key (and out of any dump of the pool), but tell it apart.
    return (tenant, server.url, hashlib.sha256(headers.encode()).hexdigest())
