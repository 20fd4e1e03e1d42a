"""An example analytics consumer of ``lec.analytics.events``: per-hour conversation counts and response times.

It depends on the topic contract only (``schemas``), as a brand's own analytics job would.
"""
