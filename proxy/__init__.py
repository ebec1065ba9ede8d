"""pool-proxy: an OpenAI-compatible gateway over a pool of upstream accounts."""

__version__ = "0.1.0"
