"""The benchmark's Go programs (the load generator, the LiveEngage stand-in): built with the machine's Go from
their source in ``bench/``, with Go's standard library only (nothing downloaded), into ``.tools/``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / ".tools"


def ensure_built(source: Path, name: str) -> Path:
    """The program built from ``source`` as ``.tools/<name>``, rebuilt when its source is newer."""
    binary = TOOLS / name
    newest_source = max(path.stat().st_mtime for path in source.iterdir())
    if not binary.exists() or binary.stat().st_mtime < newest_source:
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=source, check=True,
                       env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    return binary
