"""Checkouts: carts priced like orders, completed into orders, and their abandonment."""
