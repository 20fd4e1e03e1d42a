"""Observability shared by the bridges and the worker: log safety now, metrics later."""
