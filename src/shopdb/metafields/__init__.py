"""Merchant-defined custom fields on resources, typed as Shopify's, and their definitions."""
