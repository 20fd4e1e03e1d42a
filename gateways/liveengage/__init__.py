"""The LiveEngage webhook bridge: LiveEngage posts Connector API notifications here."""
