"""Sandbox emulators of systems the connector talks to but we do not own: LiveEngage and a channel gateway.

They import nothing from ``gateways`` or ``streams``: they implement the public contracts on their own, so that
tests check the connector against the contract and not against the connector's own beliefs.
"""

from importlib import metadata


def version() -> str:
    """The version of the package the sandboxes ship in (read here: they import nothing of the connector)."""
    try:
        return metadata.version("liveengage-kafka-connector")
    except metadata.PackageNotFoundError:
        return "0+unknown"
