"""A server with an event loop of its own in a thread, so a synchronous test can drive it while the processes
around it keep talking (devstack.tcpproxy, devstack.forwardproxy)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any


class LoopThread:
    """``start()`` runs the loop and awaits ``_start()`` in it; ``stop()`` awaits ``_stop()`` and ends the loop."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    def _begin(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        """Run ``coroutine`` in the loop and wait for its result (30 s at most)."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=30)

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError
