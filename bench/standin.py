"""The LiveEngage stand-in (bench/standin, Go): a lean copy of the LiveEngage sandbox's paths the connector uses,
so that the end-to-end benchmark measures the connector rather than the Python sandbox. It takes the sandbox's
command line and environment: devstack runs ``[*command(), "serve", "--port", ...]`` in place of
``[sys.executable, "-m", "emulators.liveengage", "serve", "--port", ...]``. The sandbox stays the reference for
behaviour; see the comment at the top of ``bench/standin/main.go`` for what the stand-in copies and leaves out.
"""

from __future__ import annotations

from pathlib import Path

from bench import gobuild

SOURCE = Path(__file__).parent / "standin"


def ensure_built() -> Path:
    return gobuild.ensure_built(SOURCE, "le-standin")


def command() -> list[str]:
    """The stand-in's program, built if needed; its arguments (``serve ...``) are the sandbox's."""
    return [str(ensure_built())]
