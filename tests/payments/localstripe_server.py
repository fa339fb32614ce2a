"""localstripe as the payment tests run it: `python localstripe_server.py --port-file PATH`.

localstripe (a stateful fake of Stripe's API) listens on a free port of 127.0.0.1, written to
PATH once it is bound, with four differences from `localstripe --port N`, each a behaviour of
the real Stripe that the gateway relies on and localstripe 1.15.10 lacks:
- Idempotency-Key: a POST repeated with a key returns the first response (`Idempotent-Replayed:
  true`); the same key on another request is a 400 `idempotency_error`, as Stripe answers.
- `allowed_payment_method_types`, the name that API version 2026-09-30.endive (pinned by the
  stripe package) gives to the older `payment_method_types`, the only one localstripe knows.
- Stripe's test card tokens `tok_visa` and `tok_chargeCustomerFail` in `card[token]`.
- Nothing written to /tmp/localstripe.pickle (card numbers, and other runs' state).
GET /_shopdb/requests lists the POSTs received with their idempotency keys, so that the tests
can see what the gateway sent.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources, server  # type: ignore[import-untyped]
from localstripe.errors import UserError  # type: ignore[import-untyped]

_TEST_TOKENS = {"tok_visa": "4242424242424242", "tok_chargeCustomerFail": "4000000000000341"}

_saved: dict[str, tuple[str, int, bytes]] = {}
_posts: list[dict[str, str | None]] = []

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _keep_in_memory(_store: Any) -> None:
    return None


resources.Store.dump_to_disk = _keep_in_memory
resources.Store.try_load_from_disk = _keep_in_memory

_create_intent = resources.PaymentIntent._api_create.__func__


def _api_create_intent(cls: Any, /, allowed_payment_method_types: Any = None, **data: Any) -> Any:
    if allowed_payment_method_types is not None:
        data["payment_method_types"] = allowed_payment_method_types
    return _create_intent(cls, **data)


resources.PaymentIntent._api_create = classmethod(_api_create_intent)

_init_method = resources.PaymentMethod.__init__


def _init_payment_method(self: Any, card: Any = None, **kwargs: Any) -> None:
    if isinstance(card, dict) and set(card) == {"token"}:
        number = _TEST_TOKENS.get(card["token"])
        if number is None:
            raise UserError(404, "No such token", {"code": "resource_missing"})
        card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    _init_method(self, card=card, **kwargs)


resources.PaymentMethod.__init__ = _init_payment_method


@web.middleware
async def _idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/_shopdb/requests":
        return web.json_response(_posts)
    if request.method != "POST":
        return await handler(request)
    key = request.headers.get("Idempotency-Key")
    _posts.append({"path": request.path, "idempotencyKey": key})
    if key is None:
        return await handler(request)
    body = await request.read()  # aiohttp keeps it for the handler's own read
    fingerprint = f"{request.path} {hashlib.sha256(body).hexdigest()}"
    saved = _saved.get(key)
    if saved is not None:
        if saved[0] != fingerprint:
            error = {
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same "
                "parameters they were first used with.",
            }
            return web.json_response({"error": error}, status=400)
        return web.Response(
            status=saved[1],
            body=saved[2],
            content_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    response = await handler(request)
    if isinstance(response, web.Response) and response.status < 500:
        body_out = response.body
        if isinstance(body_out, bytes):
            _saved[key] = (fingerprint, response.status, body_out)
    return response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    server.app.middlewares.insert(0, _idempotency)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port_file: Path = args.port_file
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(sock.getsockname()[1]))
    os.replace(partial, port_file)
    web.run_app(server.app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
