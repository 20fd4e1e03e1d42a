"""Liveness and readiness probes (readiness is true only while the producer can publish), and the metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateways.metrics import metrics


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> JSONResponse:
    producer = request.app.state.producer
    if producer.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "starting", "problem": producer.problem}, status_code=503)


ROUTES = [Route("/livez", livez), Route("/readyz", readyz), Route("/metrics", metrics)]
