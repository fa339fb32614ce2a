"""Payments: the gateways that move money for orders (test, manual, Stripe)."""
