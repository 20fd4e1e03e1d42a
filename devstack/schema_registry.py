"""The project's one owner of a real Schema Registry: Apicurio Registry, built once with Maven, started, stopped.

Apicurio Registry serves the Confluent-compatible REST API (``/apis/ccompat/v7``) that Kafka's registry-aware
clients, Kafka Connect converters and analytics tools speak. Its server is published on Maven Central only as a
Quarkus application jar (no runnable jar), so ``ensure_built`` runs the Quarkus build once, from
``devstack/apicurio/server`` (a build file that depends on the app, and the settings that keep its schemas in
memory), into ``.registry/quarkus-app``. A few of Apicurio 3.0.9's own modules do not resolve from the Maven
repository our CI reaches; their unchanged sources (Apache License 2.0) are kept in ``devstack/apicurio/modules-3.0.9``
and installed into the local Maven repository first.

Each start is a fresh, empty registry on 127.0.0.1, optionally with HTTP basic auth and TLS, as a brand's would be.
Run one in the foreground with ``python -m devstack.schema_registry`` (Ctrl-C stops it).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.ports import free_port
from devstack.stack import ManagedProcess

APICURIO_VERSION = "3.0.9"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCES = PROJECT_ROOT / "devstack" / "apicurio"
DEFAULT_CACHE = PROJECT_ROOT / ".registry"
CONFLUENT_API = "/apis/ccompat/v7"
# Modules of Apicurio 3.0.9 built from source (their parent POM first): the server's build needs them.
VENDORED_MODULES = ("config-index/definitions", "config-index/deployment", "utils/kafka",
                    "utils/protobuf-schema-utilities")
MAVEN = ["mvn", "-B", "-q", "-DskipTests", "-Dmaven.test.skip=true", "-Dcheckstyle.skip", "-Dmaven.javadoc.skip=true",
         "-Dmaven.source.skip=true"]
# A small heap and a quick JIT: the registry answers a few hundred requests per test run.
JVM_OPTIONS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


class RegistryError(RuntimeError):
    """The registry could not be built or did not start."""


def runner(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / "quarkus-app" / "quarkus-run.jar"


def ensure_built(cache: Path = DEFAULT_CACHE) -> Path:
    """Build the registry server into ``cache/quarkus-app`` once; return its runnable jar."""
    jar = runner(cache)
    if jar.exists():
        return jar
    if shutil.which("mvn") is None:
        raise RegistryError("mvn is not on PATH: Maven is needed once to build Apicurio Registry from Maven Central")
    cache.mkdir(parents=True, exist_ok=True)
    work = cache / "build"  # a copy: Maven's target/ folders stay out of the source tree
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(SOURCES, work)
    modules = work / f"modules-{APICURIO_VERSION}"
    _maven([*MAVEN, "-N", "-f", str(modules / "pom.xml"), "install"], "Apicurio's parent POM")
    for module in VENDORED_MODULES:
        _maven([*MAVEN, "-f", str(modules / module / "pom.xml"), "install"], f"Apicurio's {module}")
    _maven([*MAVEN, "-f", str(work / "server" / "pom.xml"), "package"], "the Apicurio Registry server")
    shutil.rmtree(jar.parent, ignore_errors=True)
    (work / "server" / "target" / "quarkus-app").rename(jar.parent)
    shutil.rmtree(work, ignore_errors=True)
    return jar


def _maven(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RegistryError(f"mvn could not build {what}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


@dataclass(frozen=True)
class RegistryTls:
    """The registry's server certificate and key (PEM) and the CA file clients trust it with."""

    certificate_file: Path
    key_file: Path
    ca_file: Path


class SchemaRegistry:
    """One Apicurio Registry on 127.0.0.1, schemas in memory; ``url`` is its Confluent-compatible API."""

    def __init__(self, run_dir: Path, *, port: int | None = None, user: tuple[str, str] | None = None,
                 tls: RegistryTls | None = None) -> None:
        self.run_dir = run_dir
        self.port = port or free_port()
        self.user = user
        self.tls = tls
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{CONFLUENT_API}"

    def client(self) -> httpx.Client:
        """An HTTP client with this registry's credentials and CA."""
        return httpx.Client(auth=self.user, verify=self.ssl_context() or True, timeout=10)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context trusting this registry's certificate; None without TLS."""
        return ssl.create_default_context(cafile=str(self.tls.ca_file)) if self.tls else None

    def _config(self) -> str:
        lines = ["quarkus.http.host=127.0.0.1", "quarkus.log.console.level=WARN"]
        if not self.tls:
            lines += [f"quarkus.http.port={self.port}"]
        else:  # HTTPS only: the plain listener does not start
            lines += [f"quarkus.http.ssl-port={self.port}", "quarkus.http.insecure-requests=disabled",
                      f"quarkus.http.ssl.certificate.files={self.tls.certificate_file}",
                      f"quarkus.http.ssl.certificate.key-files={self.tls.key_file}"]
        if self.user:
            name, password = self.user
            lines += ["quarkus.http.auth.basic=true", "quarkus.security.users.embedded.enabled=true",
                      "quarkus.security.users.embedded.plain-text=true",
                      f"quarkus.security.users.embedded.users.{name}={password}",
                      f"quarkus.security.users.embedded.roles.{name}=sr-admin",
                      "quarkus.http.auth.permission.registry.paths=/apis/*",
                      "quarkus.http.auth.permission.registry.policy=authenticated"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 120.0) -> str:
        """Start an empty registry and wait until its API answers; return ``url``."""
        jar = ensure_built()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "registry.properties"  # settings and credentials: not on the command line
        config.unlink(missing_ok=True)
        with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(self._config())
        self.process = ManagedProcess("schema-registry", [
            "java", *JVM_OPTIONS, f"-Dquarkus.config.locations={config}", "-jar", str(jar)],
            {name: value for name, value in os.environ.items() if not name.startswith("LEC_")},  # no secrets
            self.run_dir / "schema-registry.log")
        self.process.start()
        self.process.wait_until(self._answers, timeout, f"schema registry at {self.url}")
        return self.url

    def _answers(self) -> bool:
        try:
            with self.client() as client:
                return client.get(f"{self.url}/subjects", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> SchemaRegistry:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lec-registry-") as run_dir:
        registry = SchemaRegistry(Path(run_dir))
        started = time.monotonic()
        registry.start()
        print(f"schema registry ready in {time.monotonic() - started:.1f} s at {registry.url}", flush=True)
        try:
            assert registry.process is not None
            registry.process.wait_exit(timeout=10**9)
        except KeyboardInterrupt:
            pass
        finally:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
