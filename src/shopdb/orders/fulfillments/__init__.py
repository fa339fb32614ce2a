"""Fulfillments, fulfillment orders and fulfillment services."""
