"""Channel gateway sandbox: plays the consumer's side of a generic JSON channel (an SMS gateway, an app, ...)."""
