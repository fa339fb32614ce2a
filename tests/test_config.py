"""Settings from SHOPDB_* variables: URLs as people write them, and production's refusals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from shopdb.config import Environment, Settings, get_settings, normalise_database_url
from shopdb.keys import load_field_cipher, load_signing_keys


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
        monkeypatch.setenv("SHOPDB_PII_KEYS", "k1:" + "A" * 44)

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
        monkeypatch.setenv("SHOPDB_PII_KEYS", "k1:" + "A" * 44)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", "B" * 44)

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
        monkeypatch.setenv("SHOPDB_PII_KEYS", "k1:" + "A" * 44)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", "B" * 44)

        with pytest.raises(ValidationError, match="development signing key"):
            Settings()

    def test_accepts_secrets_kept_outside_var(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        key_file = _write(tmp_path / "secrets" / "jwt.pem")
        monkeypatch.setenv("SHOPDB_ENV", "production")
        monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("SHOPDB_JWT_PRIVATE_KEY_FILES", key_file)
        monkeypatch.setenv("SHOPDB_PII_KEYS", "k1:" + "A" * 44)
        monkeypatch.setenv("SHOPDB_PII_BLIND_INDEX_KEY", "B" * 44)

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
