"""The Faust worker: conversation state, the Send API sender and delivery to channel gateways."""
