"""Idempotency-Key for POSTs that create or move money or stock (issue 11, item 5).

Apply with `@idempotent` under the route decorator (routes.py); the rules are in rules.py,
the claim and its transaction in service.py, the SQL in repository.py.
"""

from shopdb.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from shopdb.idempotency.routes import answer_now, idempotent, in_effect

__all__ = [
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "answer_now",
    "idempotent",
    "in_effect",
]
