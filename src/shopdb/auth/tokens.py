"""RS256 access tokens as in the seed: kid header; sub, iss, aud, exp, iat, scope, permissions.

One claim is ours: `gen`, the user's token generation when the token was issued. A password
change or a deactivation raises the user's generation (users.token_generation), and a token
of an older generation is refused (shopdb.auth.dependencies). A token without `gen` (issued
before the claim existed) is of generation 0.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from shopdb.errors import Unauthorized
from shopdb.keys import SigningKey
from shopdb.kit.bounds import MAX_BIGINT

ALGORITHM = "RS256"
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class VerifiedToken:
    user_id: int
    permissions: frozenset[str]
    expires_at: int
    generation: int = 0


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenService:
    def __init__(
        self, keys: list[SigningKey], *, issuer: str, audience: str, ttl_seconds: int
    ) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self.keys = keys
        self._by_kid = {key.kid: key for key in keys}
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        # Tokens this worker has already verified. A client sends the same token on every
        # request, and checking an RS256 signature costs more than the rest of a cached read.
        # Only the exact string is trusted again, and only until its `exp`.
        self._verified: dict[str, VerifiedToken] = {}

    def issue(
        self, user_id: int, permissions: Iterable[str], *, generation: int = 0
    ) -> AccessToken:
        signer = self.keys[0]
        now = int(time.time())
        granted = sorted(set(permissions))
        claims = {
            "sub": str(user_id),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "scope": " ".join(granted),
            "permissions": granted,
            "gen": generation,
        }
        token = jwt.encode(
            claims, signer.private_key, algorithm=ALGORITHM, headers={"kid": signer.kid}
        )
        return AccessToken(token=token, expires_in=self.ttl_seconds)

    def verify(self, token: str) -> VerifiedToken:
        """Reject anything but an unexpired RS256 token signed by one of our keys, for us."""
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > time.time():
                return known
            del self._verified[token]
            raise Unauthorized("Token expired")
        verified = self._verify_signature_and_claims(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # rare: more live tokens than the cache holds
        self._verified[token] = verified
        return verified

    def _verify_signature_and_claims(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed bearer token") from exc
        # Only RS256 with a known kid: `alg: none` and HS256 signed with the public key fail here.
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("Unsupported token algorithm")
        key = self._by_kid.get(str(header.get("kid")))
        if key is None:
            raise Unauthorized("Unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        permissions = claims.get("permissions")
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise Unauthorized("Invalid token")
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError) as exc:
            raise Unauthorized("Invalid token") from exc
        # Ids are BIGINT identities from 1: anything else would reach the database as a
        # query it cannot run (a 500), or look up a user that cannot exist.
        if not 1 <= user_id <= MAX_BIGINT:
            raise Unauthorized("Invalid token")
        generation = claims.get("gen", 0)
        if type(generation) is not int or not 0 <= generation <= MAX_BIGINT:
            raise Unauthorized("Invalid token")
        return VerifiedToken(user_id, frozenset(permissions), int(claims["exp"]), generation)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        keys = []
        for key in self.keys:
            numbers = key.public_key.public_numbers()
            keys.append(
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": ALGORITHM,
                    "kid": key.kid,
                    "n": _b64_int(numbers.n),
                    "e": _b64_int(numbers.e),
                }
            )
        return {"keys": keys}
