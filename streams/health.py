"""The worker's own HTTP endpoint (``LEC_WEB_PORT``): ``/livez``, ``/readyz`` and Prometheus ``/metrics``.

Kubernetes restarts a worker whose event loop stops answering ``/livez``, and holds a rolling update until the
new worker's ``/readyz`` says its Kafka producer and consumer are running (``helm/``). Before Faust starts, while
the worker waits for Kafka and its topics (``streams.preflight``), the same endpoint says why it is not ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import faust
import prometheus_client
from aiohttp import web
from mode import Service

logger = logging.getLogger(__name__)


def kafka_clients_running(app: faust.App) -> bool:
    """True while the app's producer and consumer have started and are not stopping."""
    producer, consumer = app.producer, app.consumer
    return bool(producer.started and consumer.started and not producer.should_stop and not consumer.should_stop)


class ProbeSite:
    """Serves the probes and the metrics on ``host:port``; ``problem()`` is None when ready, else why not."""

    def __init__(self, host: str, port: int, problem: Callable[[], str | None]) -> None:
        self._host, self._port = host, port
        self._problem = problem
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        routes = web.Application()
        routes.router.add_get("/livez", self._livez)
        routes.router.add_get("/readyz", self._readyz)
        routes.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(routes, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        logger.info("probes and metrics on http://%s:%d", self._host, self._port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _livez(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        problem = self._problem()
        if problem is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting", "problem": problem}, status=503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=prometheus_client.generate_latest(),
                            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


class HealthEndpoint(Service):
    """The probe site for as long as the app runs: ready while its Kafka clients run."""

    def __init__(self, app: faust.App, host: str, port: int) -> None:
        super().__init__()
        self._site = ProbeSite(host, port, lambda: None if kafka_clients_running(app) else "Kafka clients starting")

    async def on_start(self) -> None:
        await self._site.start()

    async def on_stop(self) -> None:
        await self._site.stop()
