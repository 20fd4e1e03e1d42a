"""Free loopback ports for the servers this machine starts.

Ports come from below the kernel's ephemeral range: a port picked there (as binding port 0 does) can be taken
by any outgoing connection, such as a Kafka client's, between the pick and the server's bind. Below it, only
another server can take it, and the ports handed out here are not handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOW, DEFAULT_EPHEMERAL_START = 20000, 32768
_handed_out: set[int] = set()


def ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and lies outside the ephemeral range."""
    high = max(ephemeral_start() - 1, LOW + 1000)
    for _ in range(1000):
        port = random.randint(LOW, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {LOW} and {high}")
