"""The project's one owner of a real Apache Kafka broker: resolve it from Maven Central, start, wait, stop.

A single-node KRaft broker (combined broker + controller) on 127.0.0.1 with a fresh data directory per start.
The jars are resolved once with ``mvn`` (cached in the local Maven repository and in ``.kafka/lib``), so later
starts need no network. Tests, ``make run`` and benchmarks all start their broker through this module.

Run a broker in the foreground with ``python -m devstack.broker`` (Ctrl-C stops it).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.ports import free_port

if TYPE_CHECKING:
    from devstack.tls import DevCertificates

KAFKA_VERSION = "4.1.1"
# The SLF4J 1.x binding: Kafka 4.1 logs through slf4j-api 1.7.36, and log4j-core arrives transitively
# but without a binding the broker logs nothing. Its version matches Kafka 4.1's log4j2.
LOG4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
STARTED_LINE = "Kafka Server started"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = PROJECT_ROOT / ".kafka"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>connector.devstack</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2_PROPERTIES = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""

SERVER_PROPERTIES = """process.roles=broker,controller
node.id={node_id}
{quorum}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}{extra_listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}{extra_advertised}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT,SECURED:SASL_SSL,MTLS:SSL
log.dirs={data}
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
# Topics are declared by the worker with their partition counts; a bridge producing to a topic that does not
# exist yet must fail (503), not create a one-partition topic that breaks co-partitioning.
auto.create.topics.enable={auto_create}
"""

# The listeners a brand's cluster has: SASL_SSL with SCRAM (and OAUTHBEARER) and mutual TLS. Certificates are PEM
# files (devstack.tls); the broker's one names 127.0.0.1, so clients check host names as on a real cluster. The
# OAUTHBEARER validator is Kafka's unsecured default: it checks a token's shape and expiry, not a signature.
SECURED_PROPERTIES = """
listener.name.secured.ssl.keystore.type=PEM
listener.name.secured.ssl.keystore.location={broker_pem}
listener.name.secured.ssl.truststore.type=PEM
listener.name.secured.ssl.truststore.location={ca_file}
listener.name.secured.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,OAUTHBEARER
listener.name.secured.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secured.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secured.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
listener.name.mtls.ssl.keystore.type=PEM
listener.name.mtls.ssl.keystore.location={broker_pem}
listener.name.mtls.ssl.truststore.type=PEM
listener.name.mtls.ssl.truststore.location={ca_file}
listener.name.mtls.ssl.client.auth=required
"""

AUTHORIZER_PROPERTIES = """
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS
"""

JVM_OPTS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


TOOLS_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>connector.devstack</groupId><artifactId>kafka-tools</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
"""


class BrokerError(RuntimeError):
    """The broker could not be resolved, started or reached."""


def ensure_runtime(cache: Path = DEFAULT_CACHE) -> Path:
    """Resolve Kafka's runtime jars into ``cache/lib`` once; return that folder.

    Guarantees the SLF4J binding and log4j-core are present. Does not check the jars' integrity beyond that.
    """
    lib = cache / "lib"
    marker = lib / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if marker.exists():
        return lib
    staging = resolve_jars(POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION), cache, "kafka-runtime",
                           f"Kafka {KAFKA_VERSION}")
    names = {p.name for p in staging.iterdir()}
    for prefix in ("log4j-core-", "log4j-slf4j-impl-", "slf4j-api-1.7"):
        if not any(n.startswith(prefix) for n in names):
            raise BrokerError(f"resolved Kafka runtime lacks {prefix}*.jar")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    return lib


def resolve_jars(pom: str, cache: Path, name: str, what: str) -> Path:
    """Copy the runtime dependencies of ``pom`` into ``cache/<name>.partial`` with mvn; return that folder."""
    if shutil.which("mvn") is None:
        raise BrokerError(f"mvn is not on PATH: Maven is needed once to resolve {what} from Maven Central")
    cache.mkdir(parents=True, exist_ok=True)
    pom_path = cache / f"{name}-pom.xml"
    pom_path.write_text(pom)
    staging = cache / f"{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        "mvn", "-B", "-q", "-f", str(pom_path), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BrokerError(f"mvn could not resolve {what}:\n{result.stdout}\n{result.stderr}")
    return staging


def ensure_tools(cache: Path = DEFAULT_CACHE) -> Path:
    """Resolve Kafka's command-line tools (kafka-topics, the perf tools) into ``cache/tools`` once; return it."""
    tools = cache / "tools"
    if (tools / f"kafka-tools-{KAFKA_VERSION}.jar").exists():
        return tools
    staging = resolve_jars(TOOLS_POM.format(kafka=KAFKA_VERSION), cache, "kafka-tools", f"kafka-tools {KAFKA_VERSION}")
    shutil.rmtree(tools, ignore_errors=True)
    staging.rename(tools)
    return tools


def new_cluster_id() -> str:
    """A Kafka-style cluster id: base64url of 16 random bytes, never starting with '-' (argparse reads a flag)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


@dataclass
class KafkaBroker:
    """One single-node KRaft broker process on 127.0.0.1.

    ``start()`` returns only after a client metadata round-trip succeeded. ``stop()`` sends SIGTERM (a clean
    controlled shutdown), escalates to SIGKILL after ``stop_timeout``, and is safe to call twice. The data
    directory is fresh per broker object and removed on stop unless ``keep_data`` is set. ``kill()``,
    ``pause()``, ``resume()`` and ``restart()`` exist for fault tests.
    """

    port: int = 0
    controller_port: int = 0
    # With a proxy_port, a second listener on proxied_port tells its clients to connect at proxy_port, so a
    # TCP proxy there (devstack.tcpproxy) carries all their traffic: bootstrap and every later connection.
    proxy_port: int = 0
    proxied_port: int = 0
    # secured: two more listeners, SASL_SSL (SCRAM user ``scram_user``) on secured_port and mutual TLS on
    # mtls_port, with certificates made for this broker (``certificates``).
    secured: bool = False
    secured_port: int = 0
    mtls_port: int = 0
    scram_user: str = "lec-connector"
    scram_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    # More SCRAM users (name -> password), such as one per role of the connector.
    scram_users: dict[str, str] = field(default_factory=dict)
    # authorizer: Kafka's StandardAuthorizer, denying what no ACL allows. The plaintext listener's anonymous
    # principal (the broker itself, and the test's admin clients) is a super user.
    authorizer: bool = False
    certificates: DevCertificates | None = field(default=None, init=False)
    # One node of a cluster (KafkaCluster): its id, the static quorum of every node's controller, the shared
    # cluster id and the replication of Kafka's own topics.
    node_id: int = 1
    voters: str = ""
    cluster_id: str = field(default_factory=lambda: new_cluster_id())
    internal_replicas: int = 1
    # Kafka's own default is true (a metadata request naming a missing topic creates it): for the tests that
    # the connector never relies on it, nor triggers it.
    auto_create_topics: bool = False
    heap: tuple[str, ...] = ("-Xms256m", "-Xmx512m")
    cache: Path = DEFAULT_CACHE
    log_path: Path | None = None
    keep_data: bool = False
    stop_timeout: float = 30.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _workdir: Path | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def proxied_bootstrap(self) -> str:
        """Where clients that should go through the proxy connect (the proxy's own address)."""
        return f"127.0.0.1:{self.proxy_port}"

    @property
    def secured_bootstrap(self) -> str:
        return f"127.0.0.1:{self.secured_port}"

    @property
    def mtls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.mtls_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def data_dir(self) -> Path | None:
        """The log directory of the running broker (one folder per topic partition)."""
        return self._workdir / "data" if self._workdir is not None else None

    def start(self, timeout: float = 120.0) -> str:
        self.launch()
        self.wait_ready(timeout)
        return self.bootstrap

    def launch(self) -> None:
        """Format a fresh data directory and start the process; ``wait_ready()`` waits for it to serve."""
        lib = ensure_runtime(self.cache)
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="kraft-"))
        data = self._workdir / "data"
        (self._workdir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        properties = self._workdir / "server.properties"
        listeners: list[str] = []
        advertised: list[str] = []
        if self.proxy_port:
            self.proxied_port = self.proxied_port or free_port()
            listeners.append(f"PROXIED://127.0.0.1:{self.proxied_port}")
            advertised.append(f"PROXIED://127.0.0.1:{self.proxy_port}")
        secured_properties = ""
        if self.secured:
            self.secured_port = self.secured_port or free_port()
            self.mtls_port = self.mtls_port or free_port()
            for name, port in (("SECURED", self.secured_port), ("MTLS", self.mtls_port)):
                listeners.append(f"{name}://127.0.0.1:{port}")
                advertised.append(f"{name}://127.0.0.1:{port}")
            from devstack import tls  # needs the test extras (cryptography); only a secured broker does

            self.certificates = tls.create(self._workdir / "tls")
            secured_properties = SECURED_PROPERTIES.format(broker_pem=self.certificates.broker.pem_file,
                                                           ca_file=self.certificates.ca_file)
        if self.authorizer:
            secured_properties += AUTHORIZER_PROPERTIES
        quorum = (f"controller.quorum.voters={self.voters}" if self.voters else
                  f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}")
        properties.write_text(SERVER_PROPERTIES.format(
            port=self.port, cport=self.controller_port, data=data, node_id=self.node_id, quorum=quorum,
            replicas=self.internal_replicas, min_isr=min(2, self.internal_replicas),
            auto_create=str(self.auto_create_topics).lower(),
            extra_listeners="".join(f",{listener}" for listener in listeners),
            extra_advertised="".join(f",{listener}" for listener in advertised)) + secured_properties)
        self.log_path = self.log_path or self._workdir / "broker.log"
        logging_opt = f"-Dlog4j2.configurationFile={self._workdir / 'log4j2.properties'}"
        classpath = f"{lib}/*"
        format_cmd = [
            "java", "-Xmx256m", logging_opt, "-cp", classpath, "kafka.tools.StorageTool",
            "format", "-t", self.cluster_id, "-c", str(properties), *([] if self.voters else ["--standalone"]),
        ]
        if self.secured:  # the SCRAM credentials, stored by Kafka's own storage tool as the cluster is formatted
            users = {self.scram_user: self.scram_password, **self.scram_users}
            for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
                format_cmd += [argument for name, password in users.items()
                               for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")]
        formatted = subprocess.run(format_cmd, capture_output=True, text=True)
        if formatted.returncode != 0:
            raise BrokerError(f"kafka storage format failed:\n{formatted.stdout}\n{formatted.stderr}")
        self._launch([*self.heap, *JVM_OPTS, logging_opt, "-cp", classpath, "kafka.Kafka", str(properties)])

    def wait_ready(self, timeout: float = 120.0) -> None:
        self._wait_ready(timeout)

    def _launch(self, java_args: list[str]) -> None:
        assert self.log_path is not None
        self._java_args = java_args
        log = open(self.log_path, "ab")
        # Own process group: a Ctrl-C in the terminal reaches the launcher, which stops the broker in order.
        self._process = subprocess.Popen(
            ["java", *java_args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None and self.log_path is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"broker exited with {self._process.returncode}:\n{self.log_tail()}")
            if STARTED_LINE in self.log_path.read_text(errors="replace") and self._round_trip():
                return
            time.sleep(0.2)
        raise BrokerError(f"broker not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def _round_trip(self) -> bool:
        from kafkaclients import KafkaConnection, admin_client

        async def probe() -> None:  # on the plaintext listener, which the broker owner always has
            connection = KafkaConnection(kafka_bootstrap=self.bootstrap, kafka_security_protocol="PLAINTEXT")
            admin = admin_client(connection, request_timeout_ms=3000)
            await admin.start()
            try:
                await admin.list_topics()
            finally:
                await admin.close()

        try:
            asyncio.run(probe())
        except Exception:  # noqa: BLE001 - any failure only means "not ready yet"
            return False
        return True

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused broker cannot handle SIGTERM
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None and not self.keep_data:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def request_stop(self) -> None:
        """SIGTERM without waiting: a cluster stops its nodes at once (a last node alone waits for a quorum)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()

    def terminate(self) -> None:
        """SIGTERM the broker and wait for its controlled shutdown, keeping its data for ``restart()``."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()
            try:
                self._process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def kill(self) -> None:
        """SIGKILL the broker, keeping its data so that ``restart()`` recovers it."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def pause(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)

    def restart(self, timeout: float = 120.0) -> None:
        """Start the same broker again on the same ports and data after ``kill()`` or a crash."""
        if self._process is not None and self._process.poll() is None:
            raise BrokerError("restart() needs a stopped broker")
        self._launch(self._java_args)
        self._wait_ready(timeout)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class KafkaCluster:
    """``size`` combined broker+controller nodes on 127.0.0.1 with a static quorum: a real cluster where topics
    get ``size`` replicas and one node may be killed. Kafka's own topics are replicated ``size`` times too."""

    def __init__(self, size: int = 3, heap: tuple[str, ...] = ("-Xms192m", "-Xmx384m")) -> None:
        controllers = [free_port() for _ in range(size)]
        voters = ",".join(f"{node}@127.0.0.1:{port}" for node, port in enumerate(controllers, start=1))
        cluster_id = new_cluster_id()
        self.nodes = [KafkaBroker(port=free_port(), controller_port=port, node_id=node, voters=voters,
                                  cluster_id=cluster_id, internal_replicas=size, heap=heap)
                      for node, port in enumerate(controllers, start=1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self, timeout: float = 180.0) -> str:
        """Start every node (a quorum forms only once a majority runs), then wait for each to serve."""
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def stop(self) -> None:
        for node in self.nodes:
            node.request_stop()
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    port = int(os.environ.get("LEC_KAFKA_PORT", "9092"))
    broker = KafkaBroker(port=port, controller_port=free_port())
    print(f"resolving Kafka {KAFKA_VERSION} and starting it on 127.0.0.1:{port} ...", flush=True)
    broker.start()
    print(f"Kafka ready at {broker.bootstrap} (log: {broker.log_path}); Ctrl-C stops it", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
