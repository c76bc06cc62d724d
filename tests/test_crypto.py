"""The SMTP password at rest: encrypted with a per-station key file readable by its owner only."""
import os
import stat
import sys

import pytest

from dunning.crypto import KEY_FILE, SecretUnreadable, decrypt_secret, encrypt_secret, load_key


def test_round_trip_and_key_created_once_with_mode_0600(tmp_path):
    token = encrypt_secret(tmp_path, "s3nh@ção")
    assert "s3nh" not in token
    assert decrypt_secret(tmp_path, token) == "s3nh@ção"
    key_file = tmp_path / KEY_FILE
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = key_file.read_bytes()
    encrypt_secret(tmp_path, "outra")
    assert key_file.read_bytes() == key == load_key(tmp_path)


def test_empty_stays_empty(tmp_path):
    assert encrypt_secret(tmp_path, "") == "" and decrypt_secret(tmp_path, "") == ""


def test_another_stations_key_cannot_read_it(tmp_path):
    token = encrypt_secret(tmp_path / "a", "segredo")
    with pytest.raises(SecretUnreadable, match="grave a senha de novo"):
        decrypt_secret(tmp_path / "b", token)
