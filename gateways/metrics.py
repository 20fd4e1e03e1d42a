"""The bridges' Prometheus metrics, served on ``/metrics`` (each bridge is one uvicorn process: one registry)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

# Seconds: a bridge answers after Kafka's acknowledgement, normally within milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("lec_bridge_requests_total", "HTTP requests answered, by bridge, route and status",
                   ["bridge", "route", "status"])
REQUEST_SECONDS = Histogram("lec_bridge_request_seconds", "Time to answer a request (a 2xx comes after Kafka's ack)",
                            ["bridge", "route"], buckets=LATENCY_BUCKETS)
PRODUCED = Counter("lec_bridge_records_produced_total", "Records Kafka acknowledged, by topic", ["topic"])
# A rotation is over once nothing is signed with the previous secret any more: then it can be removed.
PREVIOUS_SECRET = Counter("lec_bridge_previous_secret_total", "Requests signed with a secret being rotated out "
                          "(previous_secret, previous_auth_token, previous_client_secret)", ["bridge"])
KAFKA_ACK_SECONDS = Histogram("lec_bridge_kafka_ack_seconds", "Time from producing a request's records to Kafka's "
                              "acknowledgement of all of them", ["topic"], buckets=LATENCY_BUCKETS)


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by the route template it matched (not its path, whose
    channel ids would make a label per channel and per typo)."""

    def __init__(self, app: Any, bridge: str) -> None:
        self._app = app
        self._bridge = bridge

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before starting a response

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(self._bridge, route, str(status)).inc()
            REQUEST_SECONDS.labels(self._bridge, route).observe(time.perf_counter() - started)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
