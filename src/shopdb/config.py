"""Settings, read once from SHOPDB_* environment variables."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shopdb.kit.crypto import KEY_BYTES, decode_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"


PaymentGatewayName = Literal["test", "manual", "stripe"]
PaymentOperation = Literal["authorize", "sale", "capture", "void", "refund"]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def normalise_database_url(url: str) -> str:
    """Accept URLs as people write them and pick the async driver the app runs on."""
    url = url.strip()
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPDB_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    var_dir: Path = DEFAULT_VAR_DIR
    migrations_dir: Path = PROJECT_ROOT / "migrations"
    database_url: str = ""
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Read replicas (shopdb/replicas.py): one further behind the primary than this is skipped;
    # each replica's state is checked at most once per replica_check_seconds, not per request.
    replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    replica_check_seconds: float = Field(default=1.0, gt=0)
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    # SQLAlchemy's pre-ping: a query before each use of a pooled connection (three round
    # trips on asyncpg). Off by default: connections the server closed are discarded anyway
    # (db.py); turn it on behind proxies that drop connections without closing them.
    database_pool_pre_ping: bool = False
    database_echo: bool = False
    redis_url: str | None = None
    # How long a product document may sit in Redis (catalog/read_model/cache.py); 0 turns it off.
    product_cache_seconds: int = Field(default=600, ge=0)
    # The read of an order, in a worker, from which its document goes through the Redis cache
    # (CacheKind.admit_from_read): before it, the stored document alone serves it.
    order_cache_from_read: int = Field(default=4, ge=1)

    # Identity (issue 3 builds on these).
    jwt_issuer: str = "shopdb"
    jwt_audience: str = "shopdb-clients"
    jwt_ttl_seconds: int = Field(default=3600, gt=0)
    # PEM private keys, one per file, newest first: the first one signs, all of them verify.
    jwt_private_key_files: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # Base64 32-byte keys as "kid:key", newest first: the first one encrypts PII.
    pii_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    pii_blind_index_key: str | None = None

    rate_limit_burst: int = Field(default=40, ge=0)
    rate_limit_per_second: float = Field(default=2.0, ge=0)
    rate_limit_key_prefix: str = "shopdb:ratelimit:"
    # Failed logins allowed per email from one client address, per client address, and per
    # email from all addresses together, before 429; one is forgiven every
    # `login_failure_refill_seconds`. 0 turns that check off. The per-email total is far
    # higher than the per-(email, address) count so that a stranger cannot lock a merchant
    # out with a few guesses; it only bounds guessing spread over many addresses.
    login_failures_per_email: int = Field(default=5, ge=0)
    login_failures_per_address: int = Field(default=20, ge=0)
    login_failures_per_email_total: int = Field(default=100, ge=0)
    login_failure_refill_seconds: float = Field(default=60.0, gt=0)
    # How long a worker trusts its copy of a user's standing (active, permissions) before
    # reading it again: the longest a deactivation or revoked grant takes to bite. 0: every request.
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Peers (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes. Empty:
    # the headers are ignored and the client address is the TCP peer's, so a client cannot
    # pick the address its rate limits and login throttle are counted under.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Benchmark-only routes (GET /api/v1/bench/ceiling); never enable them in production.
    bench_routes: bool = False

    # Uploaded files (product images): a folder (default var/storage) or an S3-compatible bucket.
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = ""
    image_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # Images created from a `src` URL are downloaded by the worker (`images/fetch`) within
    # image_max_bytes and this many seconds. Private, loopback, link-local, multicast and
    # reserved addresses are refused unless this is true (tests, development); production
    # refuses to start with it.
    image_fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    image_fetch_allow_private: bool = False
    # A product CSV with more products than this is imported as a background job (202).
    import_inline_max_products: int = Field(default=200, ge=0)

    # The job queue (shopdb.jobs) and `shopdb worker`. A running job's lease lapses after
    # `job_lease_seconds` unless renewed (every third of it while the handler runs); a worker
    # killed mid-job is replaced by the next one to poll after that. Failed attempts are
    # retried after about base * 2^(attempt-1) seconds (with jitter), at most the max.
    job_lease_seconds: float = Field(default=60.0, gt=0)
    job_poll_seconds: float = Field(default=1.0, gt=0)
    job_retry_base_seconds: float = Field(default=10.0, ge=0)
    job_retry_max_seconds: float = Field(default=3600.0, ge=0)
    worker_concurrency: int = Field(default=2, ge=1)
    # Emails wait while the same worker's webhook deliveries are behind, at most this long in
    # a row (shopdb.jobs.runner.WorkerOptions.max_deferral_seconds).
    job_max_deferral_seconds: float = Field(default=10.0, ge=0)
    # Periodic work in `shopdb worker` (shopdb.jobs.schedule): each task runs on one worker at
    # a time, again `interval` after its last run ended; a run's lease lapses after
    # `schedule_lease_seconds` unless renewed (every third of it), so a killed worker's task
    # is taken over. The sweeps: marking abandoned checkouts (and queueing their recovery
    # email), deleting expired idempotency keys.
    schedule_poll_seconds: float = Field(default=1.0, gt=0)
    schedule_lease_seconds: float = Field(default=60.0, gt=0)
    checkout_abandon_sweep_seconds: float = Field(default=300.0, gt=0)
    idempotency_purge_seconds: float = Field(default=3600.0, gt=0)

    # Webhooks (shopdb.webhooks): `shopdb worker` sends the outbox. 2xx within the timeout is
    # success; a failure is retried `webhook_retries` times, the nth after about
    # base * 2^(n-1) s with jitter (75 s: 8 retries over about 4 hours, as Shopify), then the
    # delivery is abandoned; after `webhook_failures_before_deactivation` deliveries abandoned
    # in a row the subscription is deactivated. A claimed delivery is leased for
    # `webhook_lease_seconds` (longer than any send), after which another worker takes it.
    # Addresses on loopback, private and link-local networks: allowed in development when
    # unset, refused in production (which refuses `true`).
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_retries: int = Field(default=8, ge=0, le=50)
    webhook_retry_base_seconds: float = Field(default=75.0, ge=0)
    webhook_retry_max_seconds: float = Field(default=7200.0, ge=0)
    webhook_failures_before_deactivation: int = Field(default=8, ge=1)
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    webhook_concurrency: int = Field(default=32, ge=1)
    webhook_concurrency_per_subscription: int = Field(default=4, ge=1)
    webhook_allow_private: bool | None = None

    # Orders: the currency they are priced in, and how long a placement's reservation (stock,
    # discount, gift cards taken before the payment) may stay unpaid before the worker
    # releases it (a process that died between reserving and recording the payment).
    order_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    order_reservation_seconds: float = Field(default=300.0, gt=0)
    # Checkouts: how long after its last update an uncompleted checkout counts as abandoned
    # (Shopify: 10 hours), and the storefront whose recovery links abandoned checkouts carry.
    checkout_abandon_after_seconds: float = Field(default=10 * 3600.0, gt=0)
    storefront_url: str = Field(default="http://localhost:8000", min_length=1)

    # Payments (shopdb.payments.gateways). The test gateway: a pause before each answer (a slow
    # network) and the operations it fails with a processing_error, for failure tests.
    payments_test_latency_ms: int = Field(default=0, ge=0, le=60_000)
    payments_test_fail: Annotated[list[PaymentOperation], NoDecode] = Field(default_factory=list)
    # Stripe: the secret key, and another address for its API (localstripe in the tests). The
    # client retries a dropped connection itself, with the same idempotency key.
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    stripe_max_network_retries: int = Field(default=2, ge=0, le=10)
    # The gateways an order may name. Empty: `test` and `manual` in development, `manual` in
    # production (the test gateway approves a well-known card number), and `stripe` wherever
    # its key is set. Listing `stripe` without SHOPDB_STRIPE_API_KEY refuses to start.
    payments_gateways: Annotated[list[PaymentGatewayName], NoDecode] = Field(default_factory=list)

    # Notifications (shopdb.notifications), sent by the worker. Email: `file` writes each
    # message as an .eml file under var/mail/ (development, tests); `smtp` sends it. Unset:
    # `smtp` when SHOPDB_SMTP_HOST is set, else `file`. `smtp_security`: `starttls` upgrades a
    # plain connection (port 587), `tls` connects over TLS (port 465), `none` for a local relay.
    email_backend: Literal["file", "smtp"] | None = None
    email_from: str = Field(default="Shop <shop@localhost>", min_length=3)
    shop_name: str = Field(default="shopdb", min_length=1)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # SMS: `file` writes each message under var/sms/ (the only provider shipped).
    sms_backend: Literal["file"] = "file"

    @field_validator("payments_test_fail", "payments_gateways", mode="before")
    @classmethod
    def _split_payment_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("payments_gateways")
    @classmethod
    def _check_payments_gateways(
        cls, value: list[PaymentGatewayName], info: ValidationInfo
    ) -> list[PaymentGatewayName]:
        if "stripe" in value and info.data.get("stripe_api_key") is None:
            raise ValueError("SHOPDB_PAYMENTS_GATEWAYS lists stripe: set SHOPDB_STRIPE_API_KEY")
        return value

    log_level: str = "INFO"
    log_json: bool = False
    # GET /metrics (shopdb.metrics): a caller with `metrics:read`, or this bearer token (what a
    # Prometheus scrape config sends; production wants 32 characters or more). With a port,
    # every API worker also serves /metrics there without credentials, on metrics_host
    # (loopback unless set): for a network only the scraper reaches.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    @field_validator(
        "database_replica_urls",
        "jwt_private_key_files",
        "pii_keys",
        "cors_origins",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("pii_keys")
    @classmethod
    def _check_pii_keys(cls, value: list[str]) -> list[str]:
        for position, entry in enumerate(value, 1):
            kid, separator, encoded = entry.partition(":")
            if not separator or not kid:
                raise ValueError(f"SHOPDB_PII_KEYS entry {position} must be written kid:key")
            if _key_length(encoded) != KEY_BYTES:
                raise ValueError(
                    f"SHOPDB_PII_KEYS key {kid!r} must be {KEY_BYTES} random bytes, base64url "
                    f'encoded (AES-256); generate one with: python -c "import secrets, base64; '
                    f'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
                )
        return value

    @field_validator("pii_blind_index_key")
    @classmethod
    def _check_blind_index_key(cls, value: str | None) -> str | None:
        # An HMAC key shorter than its hash's output weakens the index: `REPLACE_ME` decodes
        # to 7 bytes and used to be accepted.
        if value is not None and _key_length(value) < KEY_BYTES:
            raise ValueError(
                f"SHOPDB_PII_BLIND_INDEX_KEY must be at least {KEY_BYTES} random bytes, "
                "base64url encoded"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"SHOPDB_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network"
                ) from exc
        return value

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'shopdb.sqlite3'}"
        self.database_url = normalise_database_url(self.database_url)
        self.database_replica_urls = [normalise_database_url(u) for u in self.database_replica_urls]
        if self.email_backend is None:
            self.email_backend = "smtp" if self.smtp_host else "file"
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ValueError("SHOPDB_EMAIL_BACKEND=smtp needs SHOPDB_SMTP_HOST")
        if self.env is Environment.PRODUCTION:
            missing = [
                name
                for name, value in (
                    ("SHOPDB_JWT_PRIVATE_KEY_FILES", self.jwt_private_key_files),
                    ("SHOPDB_PII_KEYS", self.pii_keys),
                    ("SHOPDB_PII_BLIND_INDEX_KEY", self.pii_blind_index_key),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    "production refuses to start without secrets: " + ", ".join(missing)
                )
            if any(
                Path(p).resolve().is_relative_to(self.dev_keys_dir)
                for p in self.jwt_private_key_files
            ):
                raise ValueError("production refuses the development signing key under var/")
            # A copy of the development key elsewhere is refused by its content, when the
            # keys are loaded (shopdb.keys.load_signing_keys).
            if self.image_fetch_allow_private:
                raise ValueError(
                    "production refuses SHOPDB_IMAGE_FETCH_ALLOW_PRIVATE=true: image downloads "
                    "could then reach the host's own and the private network's services"
                )
            if self.webhook_allow_private:
                raise ValueError(
                    "production refuses SHOPDB_WEBHOOK_ALLOW_PRIVATE=true: webhook deliveries "
                    "could then reach the host's own and the private network's services"
                )
            if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 32:
                raise ValueError(
                    "SHOPDB_METRICS_TOKEN must be at least 32 characters in production; generate "
                    'one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
                )
            if self.bench_routes:
                raise ValueError(
                    "production refuses SHOPDB_BENCH_ROUTES=true: the benchmark routes answer "
                    "made-up data and exist only to measure the HTTP stack"
                )
        return self

    @property
    def webhooks_allow_private(self) -> bool:
        """Whether webhook addresses may be private: unset, only outside production."""
        if self.webhook_allow_private is None:
            return self.env is not Environment.PRODUCTION
        return self.webhook_allow_private

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def dev_keys_dir(self) -> Path:
        return (self.var_dir / "keys").resolve()


def _key_length(encoded: str) -> int:
    """Bytes a base64url key decodes to; 0 when it does not decode at all."""
    try:
        return len(decode_key(encoded))
    except ValueError:
        return 0


@lru_cache
def get_settings() -> Settings:
    return Settings()
