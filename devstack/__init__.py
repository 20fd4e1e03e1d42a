"""Local stack: the real Kafka broker, process launcher for `make run` and the tests, and the demo."""
