"""The SMTP password at rest: Fernet-encrypted with a key kept in the instance folder (mode 0600)."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from dunning.private_files import create_once

KEY_FILE = "smtp.key"


class SecretUnreadable(Exception):
    """The stored password cannot be decrypted (the key file was replaced or lost)."""


def _key_path(instance_path: str | os.PathLike) -> Path:
    return Path(instance_path) / KEY_FILE


def load_key(instance_path: str | os.PathLike) -> bytes:
    """The station's key, created on first use and readable by its owner only."""
    return create_once(_key_path(instance_path), Fernet.generate_key)


def encrypt_secret(instance_path: str | os.PathLike, plaintext: str) -> str:
    """``plaintext`` encrypted for storage in the database ('' stays '')."""
    if not plaintext:
        return ""
    return Fernet(load_key(instance_path)).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_secret(instance_path: str | os.PathLike, token: str) -> str:
    """The stored secret in clear, only at the moment it is needed ('' stays '')."""
    if not token:
        return ""
    try:
        return Fernet(load_key(instance_path)).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable(
            "A senha SMTP gravada não pode ser lida com a chave atual "
            f"({_key_path(instance_path)}); grave a senha de novo.") from exc
