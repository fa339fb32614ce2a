"""Webhook subscriptions and their deliveries: webhooks:read to see, webhooks:write to change."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shopdb.auth.dependencies import Authenticator, Subject

WebhooksRead = Annotated[Subject, Depends(Authenticator({"webhooks:read"}))]
WebhooksWrite = Annotated[Subject, Depends(Authenticator({"webhooks:write"}))]
