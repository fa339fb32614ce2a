"""Settings from SHOPDB_* variables: URLs as people write them, and production's refusals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from shopdb.config import Environment, Settings, get_settings, normalise_database_url
from shopdb.keys import DEV_KEY_MARKER, load_field_cipher, load_signing_keys
from shopdb.kit.crypto import generate_key

# Well-formed secrets: a 32-byte AES key and a 32-byte HMAC key, base64url.
PII_KEYS = "k1:" + generate_key()
BLIND_INDEX_KEY = generate_key()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only what a test sets: the developer's or CI's own SHOPDB_* variables stay out."""
    for name in list(os.environ):
        if name.startswith("SHOPDB_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TestDatabaseUrls:
    @pytest.mark.parametrize(
        ("written", "used"),
        [
            ("postgres://u:p@db:5432/shop", "postgresql+asyncpg://u:p@db:5432/shop"),
            ("postgresql://u:p@db/shop", "postgresql+asyncpg://u:p@db/shop"),
            ("postgresql+psycopg://u@db/shop", "postgresql+asyncpg://u@db/shop"),
            ("postgresql+psycopg2://u@db/shop", "postgresql+asyncpg://u@db/shop"),
            ("postgresql+asyncpg://u@db/shop", "postgresql+asyncpg://u@db/shop"),
            ("  postgresql://u@db/shop\n", "postgresql+asyncpg://u@db/shop"),
            ("sqlite:///var/shop.sqlite3", "sqlite+aiosqlite:///var/shop.sqlite3"),
            ("sqlite:////abs/shop.sqlite3", "sqlite+aiosqlite:////abs/shop.sqlite3"),
            ("sqlite://", "sqlite+aiosqlite://"),
            ("sqlite+aiosqlite:///shop.db", "sqlite+aiosqlite:///shop.db"),
        ],
    )
    def test_picks_the_async_driver(self, written: str, used: str) -> None:
        assert normalise_database_url(written) == used

    def test_environment_url_is_normalised(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SHOPDB_DATABASE_URL", "postgres://shop@db.internal/shop")

        assert get_settings().database_url == "postgresql+asyncpg://shop@db.internal/shop"

    def test_defaults_to_a_sqlite_file_under_var(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))

        settings = Settings()

        assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'shopdb.sqlite3'}"
        assert settings.is_sqlite

    def test_replica_urls_are_comma_separated_and_normalised(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(
            "SHOPDB_DATABASE_REPLICA_URLS", "postgres://r1/shop, postgresql://r2/shop,,"
        )

        assert Settings().database_replica_urls == [
            "postgresql+asyncpg://r1/shop",
            "postgresql+asyncpg://r2/shop",
        ]

    def test_no_replicas_by_default(self) -> None:
        assert Settings().database_replica_urls == []


def _write(path: Path, content: str = "not read by the check") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return str(path)


class TestProductionRefusesToStart:
    def test_without_any_secret(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("SHOPDB_ENV", "production")
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))

        with pytest.raises(ValidationError) as refused:
            Settings()

        message = str(refused.value)
        assert "production refuses to start without secrets" in message
        for name in (
            "SHOPDB_JWT_PRIVATE_KEY_FILES",
            "SHOPDB_PII_KEYS",
            "SHOPDB_PII_BLIND_INDEX_KEY",
        ):
            assert name in message

    def test_naming_only_the_missing_secret(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("SHOPDB_ENV", "production")
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("SHOPDB_JWT_PRIVATE_KEY_FILES", _write(tmp_path / "secrets/jwt.pem"))
        monkeypatch.setenv("SHOPDB_PII_KEYS", PII_KEYS)

        with pytest.raises(ValidationError) as refused:
            Settings()

        message = str(refused.value)
        assert "SHOPDB_PII_BLIND_INDEX_KEY" in message
        assert "SHOPDB_PII_KEYS" not in message.replace("SHOPDB_PII_BLIND_INDEX_KEY", "")
        assert "SHOPDB_JWT_PRIVATE_KEY_FILES" not in message

    def test_with_the_development_signing_key_under_var(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        var_dir = tmp_path / "var"
        dev_key = _write(var_dir / "keys" / "jwt-signing-dev.pem")
        monkeypatch.setenv("SHOPDB_ENV", "production")
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(var_dir))
        monkeypatch.setenv("SHOPDB_JWT_PRIVATE_KEY_FILES", dev_key)
        monkeypatch.setenv("SHOPDB_PII_KEYS", PII_KEYS)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", BLIND_INDEX_KEY)

        with pytest.raises(ValidationError, match="development signing key"):
            Settings()

    def test_with_a_development_key_reached_through_a_relative_path(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        var_dir = tmp_path / "var"
        _write(var_dir / "keys" / "jwt-signing-dev.pem")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("SHOPDB_ENV", "production")
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(var_dir))
        monkeypatch.setenv(
            "SHOPDB_JWT_PRIVATE_KEY_FILES", "secrets/../var/keys/jwt-signing-dev.pem"
        )
        monkeypatch.setenv("SHOPDB_PII_KEYS", PII_KEYS)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", BLIND_INDEX_KEY)

        with pytest.raises(ValidationError, match="development signing key"):
            Settings()

    def test_accepts_secrets_kept_outside_var(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        key_file = _write(tmp_path / "secrets" / "jwt.pem")
        monkeypatch.setenv("SHOPDB_ENV", "production")
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("SHOPDB_JWT_PRIVATE_KEY_FILES", key_file)
        monkeypatch.setenv("SHOPDB_PII_KEYS", PII_KEYS)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", BLIND_INDEX_KEY)

        settings = Settings()

        assert settings.env is Environment.PRODUCTION
        assert settings.jwt_private_key_files == [Path(key_file)]


class TestDevelopmentKeys:
    def test_are_generated_under_var_and_reused(self, tmp_path: Path) -> None:
        settings = Settings(var_dir=tmp_path)

        first = load_signing_keys(settings)
        second = load_signing_keys(settings)

        assert (tmp_path / "keys" / "jwt-signing-dev.pem").exists()
        assert [k.kid for k in first] == [k.kid for k in second]
        assert (tmp_path / "keys" / "jwt-signing-dev.pem").stat().st_mode & 0o077 == 0

    def test_production_never_generates_them(self, tmp_path: Path) -> None:
        # A production Settings cannot be built without keys; this guards the loaders on their own.
        settings = Settings(var_dir=tmp_path).model_copy(update={"env": Environment.PRODUCTION})

        with pytest.raises(RuntimeError, match="SHOPDB_JWT_PRIVATE_KEY_FILES"):
            load_signing_keys(settings)
        with pytest.raises(RuntimeError, match="SHOPDB_PII_KEYS"):
            load_field_cipher(settings)
        assert not (tmp_path / "keys").exists()


def _rsa_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_file: Path) -> None:
    monkeypatch.setenv("SHOPDB_ENV", "production")
    monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPDB_JWT_PRIVATE_KEY_FILES", str(key_file))
    monkeypatch.setenv("SHOPDB_PII_KEYS", PII_KEYS)
    monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", BLIND_INDEX_KEY)


class TestProductionRefusesDevelopmentSecretsByContent:
    """A copy of a development key outside var/ passes the path check: its content does not."""

    def test_a_copy_of_the_development_signing_key_elsewhere(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        load_signing_keys(Settings(var_dir=tmp_path / "var"))  # generates var/keys/...
        generated = (tmp_path / "var" / "keys" / "jwt-signing-dev.pem").read_bytes()
        copy = tmp_path / "secrets" / "jwt.pem"
        copy.parent.mkdir()
        copy.write_bytes(generated)
        _production(monkeypatch, tmp_path, copy)

        with pytest.raises(RuntimeError, match="development signing key") as refused:
            load_signing_keys(Settings())

        assert generated.startswith(DEV_KEY_MARKER)
        assert "SHOPDB_JWT_PRIVATE_KEY_FILES" in str(refused.value)
        assert str(copy) in str(refused.value)

    def test_an_unmarked_copy_is_recognised_by_the_key_id_of_the_one_under_var(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        # Development keys generated before the marker existed have none.
        pem = _rsa_pem()
        dev_key = tmp_path / "var" / "keys" / "jwt-signing-dev.pem"
        dev_key.parent.mkdir(parents=True)
        dev_key.write_bytes(pem)
        copy = tmp_path / "secrets" / "jwt.pem"
        copy.parent.mkdir()
        copy.write_bytes(pem)
        _production(monkeypatch, tmp_path, copy)

        with pytest.raises(RuntimeError, match="development signing key"):
            load_signing_keys(Settings())

    def test_the_application_does_not_start_with_it(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        from shopdb.app import create_app

        copy = tmp_path / "secrets" / "jwt.pem"
        copy.parent.mkdir()
        copy.write_bytes(DEV_KEY_MARKER + b"\n" + _rsa_pem())
        _production(monkeypatch, tmp_path, copy)

        with pytest.raises(RuntimeError, match="development signing key"):
            create_app(Settings())

    def test_accepts_a_key_of_its_own(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (development,) = load_signing_keys(Settings(var_dir=tmp_path / "var"))
        own = tmp_path / "secrets" / "jwt.pem"
        own.parent.mkdir()
        own.write_bytes(_rsa_pem())
        _production(monkeypatch, tmp_path, own)

        (key,) = load_signing_keys(Settings())

        assert key.kid != development.kid

    def test_a_copy_of_the_development_pii_keys(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        import json

        load_field_cipher(Settings(var_dir=tmp_path / "var"))  # generates var/keys/pii-dev.json
        material = json.loads((tmp_path / "var" / "keys" / "pii-dev.json").read_text())
        own = tmp_path / "secrets" / "jwt.pem"
        own.parent.mkdir()
        own.write_bytes(_rsa_pem())
        _production(monkeypatch, tmp_path, own)
        monkeypatch.setenv("SHOPDB_PII_KEYS", material["keys"][0])

        with pytest.raises(RuntimeError, match="SHOPDB_PII_KEYS"):
            load_field_cipher(Settings())

        monkeypatch.setenv("SHOPDB_PII_KEYS", PII_KEYS)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", material["blind_index_key"])
        with pytest.raises(RuntimeError, match="SHOPDB_PII_BLIND_INDEX_KEY"):
            load_field_cipher(Settings())


class TestProductionRefusesBenchRoutes:
    def test_bench_routes_are_refused(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        _production(monkeypatch, tmp_path, Path(_write(tmp_path / "secrets" / "jwt.pem")))
        monkeypatch.setenv("SHOPDB_BENCH_ROUTES", "true")

        with pytest.raises(ValidationError, match="SHOPDB_BENCH_ROUTES"):
            Settings()

    def test_development_may_use_them(self, tmp_path: Path) -> None:
        assert Settings(var_dir=tmp_path, bench_routes=True).bench_routes is True


class TestKeyLengths:
    """Short keys are refused in every environment, naming the variable to fix."""

    @pytest.mark.parametrize(
        "value",
        [
            "k1:REPLACE_ME",
            "k1:" + generate_key()[:-2],  # 31 bytes
            "k1:" + generate_key() + "AAAA",  # 35 bytes: AES-256 takes exactly 32
            "k1:not base64 at all!",
            "k1:",
            generate_key(),  # no key id
        ],
        # Stable ids: the keys are random, and parallel runs must collect the same tests.
        ids=["placeholder", "31-bytes", "35-bytes", "not-base64", "empty", "no-key-id"],
    )
    def test_pii_keys_must_be_32_bytes(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
    ) -> None:
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("SHOPDB_PII_KEYS", f"{PII_KEYS},{value}")

        with pytest.raises(ValidationError, match="SHOPDB_PII_KEYS"):
            Settings()

    @pytest.mark.parametrize(
        "value", ["REPLACE_ME", generate_key()[:-2], "***"], ids=["placeholder", "31-bytes", "***"]
    )
    def test_the_blind_index_key_must_be_at_least_32_bytes(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
    ) -> None:
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", value)

        with pytest.raises(ValidationError, match="SHOPDB_PII_BLIND_INDEX_KEY"):
            Settings()

    def test_production_names_replace_me_placeholders(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        _production(monkeypatch, tmp_path, Path(_write(tmp_path / "secrets" / "jwt.pem")))
        monkeypatch.setenv("SHOPDB_PII_KEYS", "k1:REPLACE_ME")
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", "REPLACE_ME")

        with pytest.raises(ValidationError) as refused:
            Settings()

        message = str(refused.value)
        assert "SHOPDB_PII_KEYS key 'k1' must be 32 random bytes" in message
        assert "SHOPDB_PII_BLIND_INDEX_KEY must be at least 32 random bytes" in message

    def test_accepts_well_formed_keys_and_a_longer_blind_index_key(self, tmp_path: Path) -> None:
        longer = generate_key() + generate_key()

        settings = Settings(var_dir=tmp_path, pii_keys=PII_KEYS, pii_blind_index_key=longer)
        cipher = load_field_cipher(settings)

        assert cipher.decrypt(cipher.encrypt("a@b.c", context="t"), context="t") == "a@b.c"
        assert len(cipher.blind_index_key) == 64

    def test_the_cipher_itself_refuses_a_short_blind_index_key(self) -> None:
        from shopdb.kit.crypto import FieldCipher

        with pytest.raises(ValueError, match="blind-index key"):
            FieldCipher.from_config([PII_KEYS], "REPLACE_ME")


class TestTrustedProxies:
    def test_none_by_default(self, tmp_path: Path) -> None:
        assert Settings(var_dir=tmp_path).trusted_proxies == []

    def test_comma_separated_addresses_and_networks(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("SHOPDB_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8")

        assert Settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]

    @pytest.mark.parametrize("value", ["*", "proxy.internal", "10.0.0.0/33"])
    def test_refuses_anything_else(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
    ) -> None:
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("SHOPDB_TRUSTED_PROXIES", value)

        with pytest.raises(ValidationError, match="SHOPDB_TRUSTED_PROXIES"):
            Settings()
