"""The sandbox console: a web page to play the consumer and the agent, watch flows and replay dead letters."""
