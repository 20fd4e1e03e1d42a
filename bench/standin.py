"""The LiveEngage stand-in (bench/standin, Go): a lean copy of the LiveEngage sandbox's paths the connector uses,
so that the end-to-end benchmark measures the connector rather than the Python sandbox. It takes the sandbox's
command line and environment: devstack runs ``[*command(), "serve", "--port", ...]`` in place of
``[sys.executable, "-m", "emulators.liveengage", "serve", "--port", ...]``. The sandbox stays the reference for
behaviour; see the comment at the top of ``bench/standin/main.go`` for what the stand-in copies and leaves out.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SOURCE = Path(__file__).parent / "standin"
BINARY = Path(__file__).resolve().parents[1] / ".tools" / "le-standin"


def ensure_built() -> Path:
    """Build the stand-in when its source is newer than the binary (Go's standard library only, no download)."""
    newest_source = max(path.stat().st_mtime for path in SOURCE.iterdir())
    if not BINARY.exists() or BINARY.stat().st_mtime < newest_source:
        BINARY.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "build", "-o", str(BINARY), "."], cwd=SOURCE, check=True,
                       env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    return BINARY


def command() -> list[str]:
    """The stand-in's program, built if needed; its arguments (``serve ...``) are the sandbox's."""
    return [str(ensure_built())]
