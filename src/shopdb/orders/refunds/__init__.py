"""Refunds of an order: what a refund would be, and making one (money back, stock back)."""
