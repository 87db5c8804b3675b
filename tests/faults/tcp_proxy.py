"""A TCP proxy the fault tests control: the network between one service and a server, cut on demand.

A service pointed at `proxy.port` instead of the server's port talks to the server
through this proxy, which runs its own asyncio loop in a background thread. The test
then changes what the network does, for every connection at once:

- `pass`: bytes flow both ways (the start, and the end of every fault);
- `blackhole(seconds)`: a partition. Connections stay open, nothing is forwarded either
  way, and a new connection is accepted but not carried to the server until it ends;
  what was sent meanwhile is delivered afterwards, as TCP's retransmissions would. A
  close from either side is held as well: a partitioned peer hears nothing;
- `reset()`: every live connection is aborted at once, on both sides (a dropped NAT
  entry, a restarted load balancer); new connections are carried as before;
- `latency(ms)`: each chunk waits `ms` before it is forwarded, in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

CHUNK = 65536


class TcpProxy:
    """Listens on 127.0.0.1 at a free port and forwards to `(host, port)`; `start()`, then `stop()`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.delay = 0.0
        self.connections = 0  # accepted so far, for the tests' own checks
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"tcp-proxy-{port}", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: asyncio.Event | None = None
        self._heal: asyncio.TimerHandle | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the test's side (any thread) ---------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def passing(self) -> None:
        """Back to normal: held bytes are delivered, no delay."""
        self._call(self._set(open_=True, delay=0.0))

    def blackhole(self, seconds: float) -> None:
        """Forward nothing for `seconds` (returns at once; the proxy heals itself)."""
        self._call(self._set(open_=False, heal_after=seconds))

    def latency(self, ms: float) -> None:
        self._call(self._set(open_=True, delay=ms / 1000))

    def reset(self) -> int:
        """Abort every live connection on both sides; how many there were."""
        return self._call(self._reset())

    def live(self) -> int:
        return self._call(self._count())

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- the loop's side ----------------------------------------------------------------

    async def _listen(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _set(self, *, open_: bool, delay: float | None = None, heal_after: float | None = None) -> None:
        assert self._open is not None
        if self._heal is not None:
            self._heal.cancel()
            self._heal = None
        if delay is not None:
            self.delay = delay
        if open_:
            self._open.set()
        else:
            self._open.clear()
            if heal_after is not None:
                self._heal = asyncio.get_running_loop().call_later(heal_after, self._open.set)

    async def _reset(self) -> int:
        links = list(self._links)
        for client, upstream in links:
            for writer in (client, upstream):
                writer.transport.abort()
        return len(links)

    async def _count(self) -> int:
        return len(self._links)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self._open is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.connections += 1
        try:
            await self._open.wait()  # a partition: accepted, not carried on
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            link = (writer, up_writer)
            self._links.add(link)
            try:
                await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
            finally:
                self._links.discard(link)
                for end in link:
                    end.transport.abort()
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        assert self._open is not None
        try:
            while chunk := await source.read(CHUNK):
                if self.delay:
                    await asyncio.sleep(self.delay)
                await self._open.wait()
                sink.write(chunk)
                await sink.drain()
            await self._open.wait()  # a close is news too, held in a partition
            if sink.can_write_eof():
                sink.write_eof()
        except (ConnectionError, OSError):
            sink.transport.abort()
