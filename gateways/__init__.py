"""Thin, stateless HTTP bridges: authenticate, validate, publish one Avro record per event to Kafka, answer."""
