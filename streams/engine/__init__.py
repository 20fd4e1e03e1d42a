"""The worker's engine: how records go from Faust's streams to the flows and back to Kafka, once.

- ``deadletters``: runs a flow's handler on every record in per-key lanes, dead-letters what fails, exits on a
  Kafka failure without committing;
- ``lanes``: records of different keys at once, records of one key in order;
- ``durability``: one producer flush acknowledges the table writes of every record waiting for it;
- ``commits``: records admitted in offset order, offsets committed only below the first record not done;
- ``topics``: the catalogue's topics as Faust topics, and ``publish`` (send and wait for the acknowledgement);
- ``faust_internals``: the only module that touches Faust's private attributes (pinned by a test).

The flows (``streams.consumer_flow``, ``agent_flow``, ``delivery``, ``identities``) are plain code on top.
"""
