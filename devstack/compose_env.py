"""``make compose-env``: fresh sandbox credentials for docker-compose.yml, printed as a ``.env`` file.

docker-compose.yml names its credentials as ``${VARIABLE}`` and reads them from ``.env``; this writes them with the
same generator and wiring ``make run`` uses (``devstack.stack``), but with the compose services' host names. The
values only open the sandboxes; never reuse them for a real LiveEngage account.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from devstack.stack import Stack, StackConfig

# docker-compose.yml's service names: how the containers reach each other.
COMPOSE_HOSTS = {name: name for name in ("liveengage-sandbox", "channel-sandbox", "channel-bridge", "webhook-bridge")}
COMPOSE_BOOTSTRAP = "kafka:19092"
# Settings the compose file spells out itself; only credentials and the JSON maps that carry them go in .env.
SPELLED_OUT = {"LEC_KAFKA_BOOTSTRAP", "LEC_PUBLIC_WEBHOOK_URL", "LEC_LIVEENGAGE_DOMAIN_API", "LEC_LIVEENGAGE_SCHEME",
               "LEC_PARTITIONS", "LEC_DATA_DIR", "LEC_RETRY_BASE_DELAY_S", "LEC_RETRY_DELAYS_S", "LEC_LOG_LEVEL",
               "LEC_BODY_TIMEOUT_S", "LEC_CHANNEL_BRIDGE_PUBLIC_URL", "LEC_KAFKA_REPLICATION_FACTOR",
               "LEC_KAFKA_MIN_INSYNC_REPLICAS"}


def compose_env() -> dict[str, str]:
    stack = Stack(COMPOSE_BOOTSTRAP, StackConfig(hosts=COMPOSE_HOSTS), run_dir=Path("/data"))
    account = stack.own_account()
    connector = {name: value for name, value in stack.connector_settings().items() if name not in SPELLED_OUT}
    return {
        **connector,
        "LE_SANDBOX_ACCOUNT_ID": account.account_id,
        "LE_SANDBOX_CLIENT_ID": account.client_id,
        **stack.liveengage_sandbox_secrets(account),
        **stack.channel_sandbox_secrets(),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "LEC_CONSOLE_TOKEN": secrets.token_urlsafe(18),
    }


def dotenv(variables: dict[str, str]) -> str:
    """``NAME='value'`` lines: single quotes keep JSON as it is (Compose reads them without interpolation)."""
    lines = ["# Sandbox credentials for docker-compose.yml, made by `make compose-env`. Not for real accounts."]
    for name, value in variables.items():
        if "'" in value or "\n" in value:
            raise ValueError(f"{name} cannot be written single-quoted")
        lines.append(f"{name}='{value}'")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(dotenv(compose_env()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
