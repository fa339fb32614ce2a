"""Customer privacy requests: Shopify's mandatory `customers/data_request` and `customers/redact`.

- `POST /api/v1/customers/{id}/data-request` answers with everything held about the customer
  (service.export_customer_data) and records `customers/data_request`;
- `POST /api/v1/customers/{id}/redact` erases the customer's personal data wherever it is
  held, orders keeping their amounts (service.redact_customer), and records
  `customers/redact`.

Personal data is spread over many domains' tables (customers, orders, checkouts, the event
log, the webhook outbox, stored idempotent responses): repository.py is the one inventory of
where it lives, and rules.py says what is erased from each kind of value.
"""
