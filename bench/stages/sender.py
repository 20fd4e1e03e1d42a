"""Stage 4, outbound sender: the worker's Send API client (``streams.liveengage`` over ``streams.http``, with its
answer checks and error translation) against plain aiohttp, the same PublishEvent requests to the LiveEngage
sandbox, interleaved. The sender runs in this process, pinned to its own core; the sandbox on the other, and its
CPU is reported (if it is saturated, it and not the client sets the rate)."""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import GENERATOR_CORE, SUBJECT_CORES, CpuMeter, Series, pin_process, pinned
from bench.profile import Profile
from devstack.broker import KafkaBroker
from devstack.ports import free_port
from devstack.stack import ManagedProcess
from streams import http, requests
from streams.liveengage import LiveEngageClient
from streams.settings import WorkerSettings

ACCOUNT = "12345678"
CONCURRENCY = 32


def start_sandbox(run_dir: Path, client_id: str, client_secret: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    process = ManagedProcess("liveengage-sandbox", pinned([
        sys.executable, "-m", "emulators.liveengage", "serve", "--port", str(port), "--account-id", ACCOUNT,
        "--client-id", client_id], str(GENERATOR_CORE)),
        {**os.environ, "LE_SANDBOX_CLIENT_SECRET": client_secret, "LE_SANDBOX_ADMIN_TOKEN": secrets.token_hex(8)},
        run_dir / "sandbox.log")
    process.start()
    process.wait_http(f"http://127.0.0.1:{port}/livez")
    return process, f"http://127.0.0.1:{port}"


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(count: int, send_one: Any) -> tuple[float, float]:
    """Send ``count`` requests, ``CONCURRENCY`` at a time; return (seconds, CPU seconds of this process)."""
    queue = iter(range(count))

    async def lane() -> None:
        for number in queue:
            await send_one(number)

    cpu, started = own_cpu(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, own_cpu() - cpu


async def compare(url: str, client_id: str, client_secret: str, profile: Profile) -> dict[str, Any]:
    settings = WorkerSettings.model_validate({  # as the worker reads it from its LEC_* variables
        "liveengage_accounts": {ACCOUNT: {"client_id": client_id, "client_secret": client_secret}},
        "liveengage_domain_api": url, "liveengage_scheme": "http",
        "channels": {"bench": {"account_id": ACCOUNT, "outbound_url": "http://channel.invalid/out",
                               "outbound_token": "unused", "secret": "unused", "skill_id": "17"}}})
    route = settings.channels["bench"]
    client = http.new_client(settings.http_timeout_s)
    liveengage = LiveEngageClient(client, settings)
    consumer = await liveengage.consumer_token(ACCOUNT, "bench-consumer")
    conversation = await liveengage.open_conversation(
        ACCOUNT, consumer.jws, requests.open_conversation(ACCOUNT, requests.sdes(None, route, "bench"), route))
    app_jwt = await liveengage.app_jwt(ACCOUNT)
    send_url = f"{await liveengage.base_url(ACCOUNT, 'asyncMessagingEnt')}" \
               f"/api/account/{ACCOUNT}/messaging/consumer/conversation/send"

    def publish(number: int) -> dict[str, Any]:
        return requests.publish(conversation, conversation, requests.text_event(f"bench text {number}"))

    async def ours(number: int) -> None:
        await liveengage.send(ACCOUNT, consumer.jws, publish(number))

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))
    headers = {"Authorization": app_jwt, "X-LP-ON-BEHALF": consumer.jws}

    async def plain(number: int) -> None:
        async with session.post(send_url, params={"v": "3"}, json=publish(number), headers=headers) as answer:
            answer.raise_for_status()
            await answer.json()

    results: dict[str, dict[str, Series]] = {"sender": {}, "aiohttp": {}}
    try:
        for _ in range(profile.repetitions):
            for name, send_one in (("sender", ours), ("aiohttp", plain)):
                seconds, cpu = await timed(profile.sends, send_one)
                results[name].setdefault("per_second", Series()).add(profile.sends / seconds)
                results[name].setdefault("cpu_us_per_request", Series()).add(cpu / profile.sends * 1e6)
    finally:
        await session.close()
        await client.aclose()
    return {name: {metric: series.summary() for metric, series in metrics.items()} for name, metrics in results.items()}


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    bootstrap = broker.bootstrap
    client_id, client_secret = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    sandbox, url = start_sandbox(run_dir, client_id, client_secret)
    affinity = os.sched_getaffinity(0)
    pin_process(0, SUBJECT_CORES)
    assert sandbox.pid is not None
    meter = CpuMeter([sandbox.pid]).start()
    started = time.perf_counter()
    try:
        summary = asyncio.run(compare(url, client_id, client_secret, profile))
    finally:
        os.sched_setaffinity(0, affinity)
        sandbox_cpu = meter.stop()[sandbox.pid] / (time.perf_counter() - started)
        sandbox.stop()
    ratio = summary["sender"]["per_second"]["median"] / summary["aiohttp"]["per_second"]["median"]
    return {"clients": summary, "sandbox_cpu_share": sandbox_cpu, "ratio": {"sender/aiohttp": ratio}}
