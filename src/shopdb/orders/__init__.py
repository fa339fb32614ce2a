"""Orders: placing them (reserve, pay, record) and reading them."""
