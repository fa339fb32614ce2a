"""Where secrets come from: configuration in production, generated files under var/ otherwise."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shopdb.config import Environment, Settings
from shopdb.kit.crypto import FieldCipher, decode_key, generate_key

DEV_JWT_KEY_FILE = "jwt-signing-dev.pem"
DEV_PII_KEY_FILE = "pii-dev.json"
# Written above the PEM block of every generated development key (PEM readers skip text
# before `-----BEGIN`), so production recognises a copy of one wherever it is put.
DEV_KEY_MARKER = b"shopdb development signing key: never use it in production"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()


def _write_secret(path: Path, data: bytes) -> None:
    """Create `path` with `data` atomically; FileExistsError if another process won the race.

    Workers start together and may all generate a development key: each writes a private temp
    file and hard-links it into place, so no reader ever sees a half-written key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp_name, 0o600)
        os.link(temp_name, path)
    finally:
        os.unlink(temp_name)


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint, so the same key always gets the same `kid`."""
    numbers = public_key.public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# Parsing an RSA key costs tens of milliseconds; apps built again on the same files (tests,
# workers re-created by the server) reuse it. The PEM bytes are the key, so a replaced file
# is parsed afresh.
_parsed_keys: dict[bytes, SigningKey] = {}


def _load_private_key(path: Path) -> SigningKey:
    return _parsed(path, path.read_bytes())


def _parsed(path: Path, pem: bytes) -> SigningKey:
    cached = _parsed_keys.get(pem)
    if cached is None:
        cached = _parsed_keys[pem] = _parse_private_key(path, pem)
    return cached


def _parse_private_key(path: Path, pem: bytes) -> SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: RS256 needs an RSA private key")
    if key.key_size < 2048:
        raise ValueError(f"{path}: RSA keys shorter than 2048 bits are refused")
    return SigningKey(kid=key_id(key.public_key()), private_key=key)


def _development_signing_key(settings: Settings) -> Path:
    path = settings.dev_keys_dir / DEV_JWT_KEY_FILE
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            _write_secret(path, DEV_KEY_MARKER + b"\n" + pem)
        except FileExistsError:  # another worker generated it first
            pass
    return path


def load_signing_keys(settings: Settings) -> list[SigningKey]:
    """Newest first: the first key signs new tokens; all of them verify (rotation)."""
    files = list(settings.jwt_private_key_files)
    if not files:
        if settings.env is Environment.PRODUCTION:
            raise RuntimeError("SHOPDB_JWT_PRIVATE_KEY_FILES is required in production")
        files = [_development_signing_key(settings)]
    if settings.env is not Environment.PRODUCTION:
        return [_load_private_key(Path(f)) for f in files]
    # Settings refuse the development key's path; a copy of it elsewhere is refused by its
    # content: the marker it was generated with, or the key id of the one under var/keys.
    development_kid = _development_kid(settings)
    keys = []
    for name in files:
        path = Path(name)
        pem = path.read_bytes()
        key = _parsed(path, pem)
        if DEV_KEY_MARKER in pem or key.kid == development_kid:
            raise RuntimeError(
                f"SHOPDB_JWT_PRIVATE_KEY_FILES: {path} is a development signing key; "
                "production refuses it (generate a new key and keep it outside var/)"
            )
        keys.append(key)
    return keys


def _development_kid(settings: Settings) -> str | None:
    path = settings.dev_keys_dir / DEV_JWT_KEY_FILE
    try:
        return _load_private_key(path).kid
    except (OSError, ValueError):
        return None


def load_field_cipher(settings: Settings) -> FieldCipher:
    path = settings.dev_keys_dir / DEV_PII_KEY_FILE
    if settings.pii_keys and settings.pii_blind_index_key:
        cipher = FieldCipher.from_config(settings.pii_keys, settings.pii_blind_index_key)
        if settings.env is Environment.PRODUCTION and path.exists():
            _refuse_development_pii_keys(cipher, path)
        return cipher
    if settings.env is Environment.PRODUCTION:
        raise RuntimeError("SHOPDB_PII_KEYS and SHOPDB_PII_BLIND_INDEX_KEY are required")
    if not path.exists():
        material = {"keys": [f"dev1:{generate_key()}"], "blind_index_key": generate_key()}
        try:
            _write_secret(path, json.dumps(material).encode())
        except FileExistsError:
            pass
    material = json.loads(path.read_text())
    return FieldCipher.from_config(material["keys"], material["blind_index_key"])


def _refuse_development_pii_keys(cipher: FieldCipher, path: Path) -> None:
    development = json.loads(path.read_text())
    dev_keys = {decode_key(entry.partition(":")[2]) for entry in development["keys"]}
    if any(key in dev_keys for _kid, key in cipher.keys):
        raise RuntimeError(f"SHOPDB_PII_KEYS: production refuses the development key of {path}")
    if cipher.blind_index_key == decode_key(development["blind_index_key"]):
        raise RuntimeError(
            f"SHOPDB_PII_BLIND_INDEX_KEY: production refuses the development key of {path}"
        )


_ciphers: dict[tuple[object, ...], FieldCipher] = {}


def field_cipher(settings: Settings) -> FieldCipher:
    """One cipher per distinct key configuration, built once (keys are read from disk)."""
    cache_key = (settings.var_dir, tuple(settings.pii_keys), settings.pii_blind_index_key)
    cipher = _ciphers.get(cache_key)
    if cipher is None:
        cipher = _ciphers[cache_key] = load_field_cipher(settings)
    return cipher
