"""State transitions of a placed order: cancel, close, reopen."""
