"""Sandbox emulators of systems the connector talks to but we do not own: LiveEngage and a channel gateway.

They import nothing from ``gateways`` or ``streams``: they implement the public contracts on their own, so that
tests check the connector against the contract and not against the connector's own beliefs.
"""
