"""Where a process's CPU goes: py-spy samples its stacks for a while, and the samples are summed by the function
running (self time) and by the package of its file, so the report says what a missed target is made of."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")
PACKAGES = ("faust", "mode", "aiokafka", "kafka", "fastavro", "aiohttp", "httpx", "httpcore", "anyio", "starlette",
            "uvicorn", "prometheus_client", "asyncio", "json", "streams", "gateways", "schemas", "kafkaclients",
            "telemetry", "adapters", "logging", "ssl", "selectors")


class Sampler:
    """``py-spy record`` on one process; ``stop()`` returns the summary (None when py-spy is missing)."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None
        beside_python = Path(sys.executable).parent / "py-spy"  # installed with the bench extra
        binary = str(beside_python) if beside_python.exists() else shutil.which("py-spy")
        if binary is not None:
            self.process = subprocess.Popen([binary, "record", "--pid", str(pid), "--rate", str(rate), "--format",
                                             "raw", "--nonblocking", "--output", str(out)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> dict[str, Any] | None:
        if self.process is None:
            return None
        self.process.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        self.process.wait(60)
        return summarise(self.out) if self.out.exists() else None


def package_of(file: str) -> str:
    parts = Path(file).with_suffix("").parts
    for part in parts:
        if part in PACKAGES:
            return part
    return parts[-1] if parts else "?"


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    """Shares of the samples: by the function on top of the stack, and by its package."""
    functions: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        match = FRAME.match(leaf)
        function, file = (match["function"], match["file"]) if match else (leaf, "?")
        functions[f"{function} ({package_of(file)}/{Path(file).name})"] += int(count)
        packages[package_of(file)] += int(count)
        total += int(count)
    share = {name: count / total for name, count in functions.most_common(top)} if total else {}
    return {"samples": total, "self_by_function": share,
            "self_by_package": {name: count / total for name, count in packages.most_common(top)} if total else {}}
