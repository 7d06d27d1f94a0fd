"""Models: references to weights (hub, local directory, GGUF, demo build) and how to load them."""
