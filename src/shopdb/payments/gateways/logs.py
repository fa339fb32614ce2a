"""The one log line per gateway call: what happened, with the card's brand and last four only."""

from __future__ import annotations

import structlog

from shopdb.payments.gateways.base import GatewayResult


def log_result(gateway: str, operation: str, result: GatewayResult, *, duration_ms: float) -> None:
    # Looked up per call, not once per module: a logger cached before a test reconfigures
    # structlog would escape the capture that proves no token is ever logged.
    log = structlog.get_logger("shopdb.payments")
    fields = {
        "gateway": gateway,
        "operation": operation,
        "status": result.status,
        "amount": str(result.amount),
        "currency": result.currency,
        "reference": result.reference,
        "error_code": result.error_code,
        "card_brand": result.card_brand,
        "card_last4": result.card_last4,
        "duration_ms": round(duration_ms, 1),
    }
    if result.status == "error":
        log.warning("payment_gateway_call", **fields)
    else:
        log.info("payment_gateway_call", **fields)
