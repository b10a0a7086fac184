"""The seal key: the Ed25519 key that signs every entry of the seal log.

``RW_EVIDENCE_KEY`` names a PEM file holding the private key (PKCS#8, as ``evidence new-key``
writes it). In demo mode with it empty, one is generated once under
``<data_dir>/evidence/seal-key.pem`` (file 0600, directory 0700) and kept, so seals made
before a restart still verify after it. With ``RW_DEMO=false`` and no key the service refuses to
start: seals signed by a key nobody kept prove nothing.

A key is named by its id: the first 16 hex digits of the SHA-256 of the raw public key. Every
seal carries the id of the key that signed it; ``evidence verify`` checks it against the public
key it is given (``evidence public-key`` prints it, ``GET /api/evidence/public-key`` serves it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from window_server.settings import Settings, SettingsError

DEMO_KEY = Path("evidence") / "seal-key.pem"  # under data_dir


class EvidenceKeyError(SettingsError):
    """The seal key is missing, unreadable or not an Ed25519 key; the message says what to do."""


def key_id(public: Ed25519PublicKey) -> str:
    """16 hex digits of the SHA-256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SealKey:
    """The private key that signs seals, with its public half and id."""

    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def id(self) -> str:
        return key_id(self.public)

    @property
    def public_pem(self) -> bytes:
        return public_pem(self.public)

    def sign(self, data: bytes) -> str:
        """The Ed25519 signature of ``data``, base64."""
        return base64.b64encode(self.private.sign(data)).decode()


def verify_signature(public: Ed25519PublicKey, data: bytes, sig: object) -> bool:
    """Whether ``sig`` (base64) is ``public``'s signature of ``data``."""
    if not isinstance(sig, str):
        return False
    try:
        public.verify(base64.b64decode(sig, validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path``; raise EvidenceKeyError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceKeyError(f"setting RW_EVIDENCE_KEY: cannot read {path} ({exc.strerror or exc})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise EvidenceKeyError(f"setting RW_EVIDENCE_KEY: {path} holds no unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceKeyError(f"setting RW_EVIDENCE_KEY: the key in {path} is not an Ed25519 key") from None
    return key


def read_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path`` (a public key PEM, or a private key's public half)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceKeyError(f"cannot read the public key {path} ({exc.strerror or exc})") from None
    return parse_public_key(data, str(path))


def parse_public_key(data: bytes, where: str = "the public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise EvidenceKeyError(f"{where} is not a PEM public key") from None
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceKeyError(f"{where} is not an Ed25519 key")
    return key


def write_new_key(path: Path) -> Path:
    """Generate an Ed25519 key into a new PEM file ``path`` (0600; never overwrites); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # O_EXCL: two processes starting at once must not each write (and keep) a different key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def demo_key_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / DEMO_KEY


def load_seal_key(settings: Settings) -> SealKey:
    """The seal key of these settings (generated and kept in demo mode); raise EvidenceKeyError.

    Call it at start (``__main__`` and ``create_app``): with ``RW_DEMO=false`` and no
    ``RW_EVIDENCE_KEY`` the service must not start.
    """
    if settings.evidence_key:
        path = Path(settings.evidence_key)
        return SealKey(read_private_key(path), path)
    if not settings.demo:
        raise EvidenceKeyError(
            "setting RW_EVIDENCE_KEY (evidence_key) is required with RW_DEMO=false: it names the file of "
            "the Ed25519 key that signs evidence seals; create one with "
            "`python -m window_server evidence new-key /etc/remote-window/seal-key.pem` and keep it safe")
    path = demo_key_path(settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        with contextlib.suppress(FileExistsError):  # another process made it first: use that one
            write_new_key(path)
    return SealKey(read_private_key(path), path)


def trusted_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The public key of these settings' seal key, without generating one (None if there is none)."""
    if settings.evidence_key:
        return read_private_key(Path(settings.evidence_key)).public_key()
    path = demo_key_path(settings)
    return read_private_key(path).public_key() if path.is_file() else None
