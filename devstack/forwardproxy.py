"""An HTTP forward proxy on 127.0.0.1 that stands for a corporate proxy in tests: it tunnels ``CONNECT`` (HTTPS)
and forwards absolute-form requests (plain HTTP), and records where each one went.

It runs its own event loop in a thread, like ``devstack.tcpproxy``. Each client connection carries one request
(it is forwarded with ``Connection: close``), so a keep-alive connection never reaches the wrong host.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from devstack.loopthread import LoopThread
from devstack.ports import free_port

CHUNK = 65536


class ForwardProxy(LoopThread):
    def __init__(self, port: int = 0) -> None:
        super().__init__("forward-proxy")
        self.port = port or free_port()
        self.seen: list[tuple[str, str]] = []  # (method, host:port) of each request, in arrival order
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ForwardProxy:
        self._begin()
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            head = (await client_reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, target, version = request_line.split(" ")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                self.seen.append((method, target))
                upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
                client_writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                self.seen.append((method, f"{url.hostname}:{url.port or 80}"))
                upstream_reader, upstream_writer = await asyncio.open_connection(url.hostname, url.port or 80)
                headers = [line for line in header_lines if line and not line.lower().startswith(
                    ("proxy-", "connection:"))]
                path = url.path + (f"?{url.query}" if url.query else "")
                upstream_writer.write("\r\n".join([f"{method} {path or '/'} {version}", *headers,
                                                   "Connection: close", "", ""]).encode("latin-1"))
            await asyncio.gather(self._pipe(client_reader, upstream_writer),
                                 self._pipe(upstream_reader, client_writer))
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            client_writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()
