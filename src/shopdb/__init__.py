"""shopdb: a self-hosted, Shopify-compatible commerce backend."""

__version__ = "0.1.0"
