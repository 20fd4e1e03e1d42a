"""A userspace TCP proxy on 127.0.0.1 for network fault tests: added latency, a blackhole, reset connections.

It runs its own event loop in a thread, so a synchronous test can turn faults on and off while the processes
it stands between keep talking. A blackhole holds bytes and new connections back rather than dropping them, as
TCP's retransmissions would over a network that lost its route: they flow again once the route is back,
unless the client gave up on the connection first.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from devstack.loopthread import LoopThread
from devstack.ports import free_port

CHUNK = 65536


class TcpProxy(LoopThread):
    def __init__(self, target_port: int, port: int = 0) -> None:
        super().__init__("tcp-proxy")
        self.target_port = target_port
        self.port = port or free_port()
        self.latency_s = 0.0
        self.connections_reset = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._route: asyncio.Event | None = None
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._begin()
        return self

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk of bytes, both ways, by ``seconds``."""
        self.latency_s = seconds

    def blackhole(self, on: bool) -> None:
        """Hold every byte and every new connection back (``on``), or let them flow again."""
        self._call(self._set_route(not on))

    def reset_all(self) -> int:
        """Abort every open connection with a TCP RST; return how many were reset."""
        count: int = self._call(self._reset_all())
        self.connections_reset += count
        return count

    async def _start(self) -> None:
        self._route = asyncio.Event()
        self._route.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()

    async def _set_route(self, up: bool) -> None:
        assert self._route is not None
        if up:
            self._route.set()
        else:
            self._route.clear()

    async def _reset_all(self) -> int:
        writers = list(self._open)
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._open.difference_update(writers)
        return len(writers)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        assert self._route is not None
        self._open.add(client_writer)
        try:
            await self._route.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            self._open.discard(client_writer)
            return
        self._open.add(upstream_writer)
        pumps = [asyncio.create_task(self._pump(client_reader, upstream_writer)),
                 asyncio.create_task(self._pump(upstream_reader, client_writer))]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, upstream_writer):  # one side closed: close the other, so the peer sees it
            writer.transport.abort()
            self._open.discard(writer)
        for pump in pumps:
            pump.cancel()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._route is not None
        try:
            while data := await reader.read(CHUNK):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                await self._route.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
