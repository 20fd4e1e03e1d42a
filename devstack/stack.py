"""Starts the connector and both sandboxes as real processes on 127.0.0.1, against a running broker.

Used by ``make run`` and by the end-to-end tests alike, so tests exercise the same wiring a user runs. Secrets are
generated per stack; every process gets its configuration through the documented LEC_* variables.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.ports import free_port
from devstack.tcpproxy import TcpProxy


@dataclass
class SandboxAccount:
    """Another brand: a LiveEngage account with a sandbox of its own, found through the first one's Domain API."""

    account_id: str
    port: int = 0  # a free one when 0
    client_id: str = field(default_factory=lambda: f"sandbox-{secrets.token_hex(8)}")
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class TwilioChannel:
    """A channel on the Twilio adapter: one brand number at the sandbox's Twilio."""

    channel_id: str = "sandbox-twilio"
    number: str = "+15550100"
    account_id: str | None = None  # the LiveEngage account its conversations go to; None: the stack's own
    skill_id: str | None = None
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class StackConfig:
    channel_bridge_port: int = 8081
    webhook_bridge_port: int = 8082
    liveengage_port: int = 8090
    channel_port: int = 8091
    worker_web_port: int = 8083  # the first worker's probes and metrics; further workers take free ports
    console_port: int = 8095
    account_id: str = "12345678"
    channel_id: str = "sandbox-sms"
    skill_id: str = "1732549212"
    partitions: int = 4
    webhook_retry_interval_s: float = 30.0
    retry_delays_s: list[float] = field(default_factory=lambda: [5, 10, 15, 120, 240, 480])
    log_level: str = "info"
    log_format: str = "text"  # the bridges' and the worker's LEC_LOG_FORMAT
    body_timeout_s: float = 10.0
    worker_env: dict[str, str] = field(default_factory=dict)  # more LEC_* settings for the worker
    # The program that plays LiveEngage, with the sandbox's command line (``serve --port ...``) and environment;
    # empty: the sandbox. The benchmark gives its lean stand-in (bench/standin) so that it measures the connector.
    liveengage_program: list[str] = field(default_factory=list)
    console: bool = True  # the sandbox console (it tails every topic: the benchmark leaves it out)
    # How every process reaches Kafka beyond its address (LEC_KAFKA_SECURITY_PROTOCOL, SASL, TLS files).
    kafka_settings: dict[str, str] = field(default_factory=dict)
    # How every process reaches the Schema Registry (LEC_SCHEMA_REGISTRY_*, LEC_WIRE_FORMAT); none by default.
    registry_settings: dict[str, str] = field(default_factory=dict)
    # More settings for one process by its name (channel-bridge, webhook-bridge, worker, console), such as a
    # Kafka user of its own.
    process_env: dict[str, dict[str, str]] = field(default_factory=dict)
    twilio_channels: list[TwilioChannel] = field(default_factory=lambda: [TwilioChannel()])
    extra_accounts: list[SandboxAccount] = field(default_factory=list)
    opted_out_notice: str = "[automatic] The consumer opted out (STOP): your messages are not delivered."
    help_reply: str = "Sandbox Brand: msg&data rates may apply. Reply STOP to opt out, START to opt back in."
    client_id: str = field(default_factory=lambda: f"sandbox-{secrets.token_hex(8)}")
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    channel_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # A rotation under way: the secrets being replaced, accepted by the bridges beside the current ones.
    previous_channel_secret: str | None = None
    # Each bridge behind a TCP proxy on its port, as Kubernetes puts pods behind a Service: ``Stack.roll_bridge``
    # then replaces a bridge the way a rolling update does.
    bridge_services: bool = False
    previous_client_secret: str | None = None
    outbound_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    analytics_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # Host names the processes reach each other by (docker-compose's service names); 127.0.0.1 for any not named.
    hosts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, **overrides: object) -> StackConfig:
        ports = {name: free_port() for name in
                 ("channel_bridge_port", "webhook_bridge_port", "liveengage_port", "channel_port",
                  "worker_web_port", "console_port")}
        return cls(**{**ports, **overrides})  # type: ignore[arg-type]

    def url(self, port: int, service: str = "") -> str:
        return f"http://{self.hosts.get(service, '127.0.0.1')}:{port}"

    @property
    def liveengage_url(self) -> str:
        return self.url(self.liveengage_port, "liveengage-sandbox")

    @property
    def channel_url(self) -> str:
        return self.url(self.channel_port, "channel-sandbox")

    @property
    def channel_bridge_url(self) -> str:
        return self.url(self.channel_bridge_port, "channel-bridge")

    @property
    def webhook_bridge_url(self) -> str:
        return self.url(self.webhook_bridge_port, "webhook-bridge")

    @property
    def webhook_url(self) -> str:
        return f"{self.webhook_bridge_url}/v1/liveengage/webhooks"


class StackError(RuntimeError):
    pass


class ManagedProcess:
    """One child process with its output in a log file; ``stop()`` is SIGTERM then SIGKILL, safe twice."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the process to end; its exit status (None when it never started)."""
        return self.process.wait(timeout) if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StackError(f"{self.name} exited before {what}:\n{self.log()[-4000:]}")
            if ready():
                return
            time.sleep(0.1)
        raise StackError(f"{self.name}: no {what} after {timeout:.0f}s:\n{self.log()[-4000:]}")

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        def answers() -> bool:
            try:
                return httpx.get(url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_until(answers, timeout, f"answer from {url}")

    def wait_log(self, pattern: str, timeout: float = 120.0, after: int = 0) -> None:
        regex = re.compile(pattern)
        self.wait_until(lambda: regex.search(self.log(), after) is not None, timeout, f"log line /{pattern}/")

    def signal(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()


WORKER_READY = r"\[\^Worker\]: Ready"


class Stack:
    """The two bridges, the worker and both sandboxes, started in dependency order and stopped in reverse."""

    def __init__(self, bootstrap: str, config: StackConfig, run_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.config = config
        self.run_dir = run_dir
        self.processes: dict[str, ManagedProcess] = {}
        self.services: dict[str, TcpProxy] = {}  # bridge name -> its "Service" (``bridge_services``)
        # Worker name -> port of its probes and metrics; workers started later take free ports.
        self.worker_web_ports: dict[str, int] = {"worker": config.worker_web_port}
        for account in config.extra_accounts:
            account.port = account.port or free_port()

    def liveengage_url_of(self, account_id: str) -> str:
        """The URL of the sandbox that plays this LiveEngage account."""
        extra = {account.account_id: account.url for account in self.config.extra_accounts}
        return extra.get(account_id, self.config.liveengage_url)

    def connector_env(self) -> dict[str, str]:
        """The environment of the bridges and the worker: this process's, with the stack's LEC_* settings."""
        return {**os.environ, **self.connector_settings()}

    def connector_settings(self) -> dict[str, str]:
        c = self.config
        channels = {c.channel_id: {
            "secret": c.channel_secret,
            **({"previous_secret": c.previous_channel_secret} if c.previous_channel_secret else {}),
            "account_id": c.account_id,
            "outbound_url": f"{c.channel_url}/v1/outbound/messages",
            "outbound_token": c.outbound_token,
            "skill_id": c.skill_id,
            "campaign_id": "3614998912",
            "engagement_id": "3615001112",
            "default_profile": {"language": "en-US"},
            "capabilities": {"receipts": True, "typing": True, "opt_out_keywords": True},
            "opted_out_notice": c.opted_out_notice,
        }}
        for twilio in c.twilio_channels:
            channels[twilio.channel_id] = {
                "adapter": "twilio", "account_id": twilio.account_id or c.account_id,
                "skill_id": twilio.skill_id or c.skill_id,
                "account_sid": twilio.account_sid, "auth_token": twilio.auth_token, "number": twilio.number,
                "api_url": c.channel_url, "default_profile": {"language": "en-US"},
                "opted_out_notice": c.opted_out_notice, "help_reply": c.help_reply,
            }
        return {
            "LEC_KAFKA_BOOTSTRAP": self.bootstrap,
            # One local broker: one replica. A real cluster keeps the defaults (3, and 2 in sync).
            "LEC_KAFKA_REPLICATION_FACTOR": "1",
            "LEC_KAFKA_MIN_INSYNC_REPLICAS": "1",
            **c.kafka_settings,
            **c.registry_settings,
            "LEC_CHANNELS": json.dumps(channels),
            "LEC_LIVEENGAGE_ACCOUNTS": json.dumps({c.account_id: {
                "client_id": c.client_id, "client_secret": c.client_secret, "admin_token": c.admin_token,
                **({"previous_client_secret": c.previous_client_secret} if c.previous_client_secret else {})}} | {
                a.account_id: {"client_id": a.client_id, "client_secret": a.client_secret,
                               "admin_token": a.admin_token} for a in c.extra_accounts}),
            "LEC_PUBLIC_WEBHOOK_URL": c.webhook_url,
            "LEC_LIVEENGAGE_DOMAIN_API": c.liveengage_url,
            "LEC_LIVEENGAGE_SCHEME": "http",
            "LEC_PARTITIONS": str(c.partitions),
            "LEC_DATA_DIR": str(self.run_dir / "worker"),
            "LEC_RETRY_BASE_DELAY_S": "0.2",
            "LEC_RETRY_DELAYS_S": json.dumps(self.config.retry_delays_s),
            "LEC_LOG_LEVEL": self.config.log_level,
            "LEC_LOG_FORMAT": self.config.log_format,
            "LEC_BODY_TIMEOUT_S": str(self.config.body_timeout_s),
            "LEC_ANALYTICS_KEY": self.config.analytics_key,
            "LEC_CHANNEL_BRIDGE_PUBLIC_URL": c.channel_bridge_url,
        }

    def _add(self, name: str, args: list[str], env: dict[str, str],
             program: list[str] | None = None) -> ManagedProcess:
        """Start ``program`` (this Python by default) with ``args``."""
        env = env | self.config.process_env.get(name, {})
        command = [*(program or [sys.executable]), *args]
        process = ManagedProcess(name, command, env, self.run_dir / f"{name}.log")
        self.processes[name] = process
        process.start()
        return process

    BRIDGE_KINDS = {"channel-bridge": "channel", "webhook-bridge": "liveengage"}

    def _bridge_args(self, name: str, port: int) -> list[str]:
        return ["-m", "gateways", self.BRIDGE_KINDS[name], "--port", str(port)]

    def _add_bridge(self, name: str, port: int) -> ManagedProcess:
        """Start a bridge on ``port``, or with ``bridge_services`` on a port of its own behind a proxy on ``port``."""
        if self.config.bridge_services:
            service = self.services[name] = TcpProxy(free_port(), port=port).start()
            port = service.target_port
        return self._add(name, self._bridge_args(name, port), self.connector_env())

    def roll_bridge(self, name: str) -> None:
        """Replace a bridge as a rolling update does (``bridge_services``): the new process starts on a port of its
        own, its Service sends new connections to it once it is ready, then the old one stops (SIGTERM: it
        finishes the requests it has, and closes its idle connections)."""
        service, old = self.services[name], self.processes[name]
        port = free_port()
        env = self.connector_env() | self.config.process_env.get(name, {})
        new = ManagedProcess(name, [sys.executable, *self._bridge_args(name, port)], env, old.log_path)
        new.start()
        try:
            new.wait_http(f"{self.config.url(port)}/readyz")
        except BaseException:
            new.stop()
            raise
        service.target_port = port
        old.stop()
        self.processes[name] = new

    def _add_liveengage(self, name: str, account: SandboxAccount, peers: list[str]) -> ManagedProcess:
        c = self.config
        program = c.liveengage_program or [sys.executable, "-m", "emulators.liveengage"]
        return self._add(name, [
            "serve", "--port", str(account.port), "--account-id", account.account_id,
            "--client-id", account.client_id, "--retry-interval", str(c.webhook_retry_interval_s),
            "--ttl-first-delay", str(c.webhook_retry_interval_s), *peers,
        ], {**os.environ, **self.liveengage_sandbox_secrets(account)}, program)

    @staticmethod
    def liveengage_sandbox_secrets(account: SandboxAccount) -> dict[str, str]:
        """A LiveEngage sandbox's credentials, given by environment (not in `ps`)."""
        return {"LE_SANDBOX_CLIENT_SECRET": account.client_secret, "LE_SANDBOX_ADMIN_TOKEN": account.admin_token}

    def channel_sandbox_secrets(self) -> dict[str, str]:
        """The channel sandbox's signing secret and tokens, and its Twilio numbers with their auth tokens."""
        c = self.config
        return {"CHANNEL_SANDBOX_SIGNING_SECRET": c.channel_secret,
                "CHANNEL_SANDBOX_OUTBOUND_TOKEN": c.outbound_token,
                "CHANNEL_SANDBOX_TWILIO_NUMBERS": json.dumps([{
                    "channel_id": t.channel_id, "account_sid": t.account_sid, "auth_token": t.auth_token,
                    "number": t.number, "webhook_url": f"{c.channel_bridge_url}/v1/channels/{t.channel_id}/messages",
                } for t in c.twilio_channels])}

    def own_account(self) -> SandboxAccount:
        """The stack's own LiveEngage account, as its sandbox plays it."""
        c = self.config
        return SandboxAccount(c.account_id, c.liveengage_port, c.client_id, c.client_secret, c.admin_token)

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        c = self.config
        try:
            peers = [f"--peer={a.account_id}=127.0.0.1:{a.port}" for a in c.extra_accounts]
            liveengage = self._add_liveengage("liveengage-sandbox", self.own_account(), peers)
            brands = [self._add_liveengage(f"liveengage-sandbox-{a.account_id}", a, []) for a in c.extra_accounts]
            channel = self._add("channel-sandbox", [
                "-m", "emulators.channel", "serve", "--port", str(c.channel_port), "--channel-id", c.channel_id,
                "--bridge-url", c.channel_bridge_url,
            ], {**os.environ, **self.channel_sandbox_secrets()})
            worker = self._add("worker", ["-m", "streams"], self.worker_env("worker"))
            channel_bridge = self._add_bridge("channel-bridge", c.channel_bridge_port)
            webhook_bridge = self._add_bridge("webhook-bridge", c.webhook_bridge_port)
            liveengage.wait_http(f"{c.liveengage_url}/livez")
            for brand, account in zip(brands, c.extra_accounts):
                brand.wait_http(f"{account.url}/livez")
            channel.wait_http(f"{c.channel_url}/livez")
            channel_bridge.wait_http(f"{c.channel_bridge_url}/readyz")  # through its Service, if any
            webhook_bridge.wait_http(f"{c.webhook_bridge_url}/readyz")
            self.register_webhooks()
            worker.wait_log(WORKER_READY)
            if c.console:
                console = self._add("console", [
                    "-m", "console", "--port", str(c.console_port), "--liveengage-url", c.liveengage_url,
                    "--channel-url", c.channel_url,
                ], {**os.environ, "LEC_KAFKA_BOOTSTRAP": self.bootstrap, **c.kafka_settings,
                    **c.registry_settings,
                    "LEC_PARTITIONS": str(c.partitions)})
                console.wait_http(f"{self.console_url}/livez")
        except BaseException:
            self.stop()
            raise

    def register_webhooks(self) -> str:
        """Run the connector's own registration command against the LiveEngage sandbox; return what it printed."""
        done = subprocess.run([sys.executable, "-m", "streams", "register-webhooks"], env=self.connector_env(),
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise StackError(f"register-webhooks failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def restart_worker(self, name: str = "worker") -> None:
        """Stop a worker gracefully (if it still runs) and start it again; return once it is ready."""
        worker = self.processes[name]
        worker.stop()
        self.start_worker(name)

    def worker_env(self, name: str) -> dict[str, str]:
        """A worker's environment: each worker keeps its own data directory and its own probes port."""
        port = self.worker_port(name)
        return self.connector_env() | self.config.worker_env | self.config.process_env.get("worker", {}) | {
            "LEC_DATA_DIR": str(self.run_dir / name), "LEC_WEB_PORT": str(port)}

    def worker_port(self, name: str) -> int:
        """The port of a worker's probes and metrics, chosen before it first starts (for scrape targets)."""
        if name not in self.worker_web_ports:
            self.worker_web_ports[name] = free_port()
        return self.worker_web_ports[name]

    def start_worker(self, name: str = "worker") -> ManagedProcess:
        """Start a (further) worker process of the same app: it joins the consumer group and shares the work."""
        worker = self.processes.get(name)
        if worker is None:
            worker = ManagedProcess(name, [sys.executable, "-m", "streams"], self.worker_env(name),
                                    self.run_dir / f"{name}.log")
            self.processes[name] = worker
        offset = len(worker.log())
        worker.start()
        worker.wait_log(WORKER_READY, after=offset)
        return worker

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        for service in self.services.values():
            service.stop()

    @property
    def console_url(self) -> str:
        return self.config.url(self.config.console_port)

    def scrape_targets(self) -> dict[str, list[str]]:
        """Prometheus jobs: each process's /metrics as ``host:port``."""
        c = self.config
        return {"lec-channel-bridge": [f"127.0.0.1:{c.channel_bridge_port}"],
                "lec-webhook-bridge": [f"127.0.0.1:{c.webhook_bridge_port}"],
                "lec-worker": [f"127.0.0.1:{port}" for port in self.worker_web_ports.values()]}

    def describe(self) -> list[tuple[str, str]]:
        c = self.config
        return [
            ("sandbox console", f"{self.console_url}  (play the consumer and the agent, watch flows)"),
            ("Kafka broker", self.bootstrap),
            ("channel bridge", f"{c.channel_bridge_url}/v1/channels/{c.channel_id}/messages"),
            ("webhook bridge", c.webhook_url),
            ("worker", f"python -m streams (log: {self.processes['worker'].log_path}; metrics: "
                       f"{c.url(c.worker_web_port)}/metrics)"),
            ("LiveEngage sandbox", f"{c.liveengage_url}  (account {c.account_id})"),
            ("channel sandbox", f"{c.channel_url}  (channel {c.channel_id}; Twilio numbers "
                                f"{', '.join(f'{t.number} on {t.channel_id}' for t in c.twilio_channels)})"),
        ]
