"""The per-worker cache of verified tokens never outlives a token or trusts a lookalike."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shopdb.auth.tokens import TokenService
from shopdb.errors import Unauthorized
from shopdb.keys import SigningKey, key_id


@pytest.fixture(scope="module")
def tokens() -> TokenService:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = SigningKey(kid=key_id(private.public_key()), private_key=private)
    return TokenService([key], issuer="shopdb", audience="shopdb-clients", ttl_seconds=60)


class TestVerifiedTokenCache:
    def test_a_repeated_token_verifies_to_the_same_claims(self, tokens: TokenService) -> None:
        token = tokens.issue(7, ["products:read"]).token
        first = tokens.verify(token)
        assert tokens.verify(token) is first
        assert first.user_id == 7
        assert first.permissions == {"products:read"}

    def test_a_cached_token_is_refused_once_it_expires(
        self, tokens: TokenService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = tokens.issue(7, ["products:read"]).token
        verified = tokens.verify(token)
        later = verified.expires_at + 1
        monkeypatch.setattr(time, "time", lambda: later)
        with pytest.raises(Unauthorized, match="expired"):
            tokens.verify(token)

    def test_a_tampered_copy_of_a_cached_token_is_still_checked(self, tokens: TokenService) -> None:
        token = tokens.issue(7, ["products:read"]).token
        tokens.verify(token)
        header, payload, signature = token.split(".")
        tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
        with pytest.raises(Unauthorized):
            tokens.verify(tampered)
