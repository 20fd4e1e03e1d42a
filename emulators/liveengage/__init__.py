"""LiveEngage sandbox: Domain API, Sentinel, IdP, Send API, signed webhooks and an agent console API."""
