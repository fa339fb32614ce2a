"""Returns of fulfilled units: open, close with the received quantities."""
