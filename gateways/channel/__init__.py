"""The channel bridge: channel gateways post consumer messages here."""
