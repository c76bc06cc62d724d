"""Files at rest (issue 10, item 6): instance/ and all it holds are readable by the owner only."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _flask(instance: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "APPLIANCE_INSTANCE": str(instance)}
    env.pop("DATABASE_URL", None)
    # A permissive umask, as a login shell has: the app must not rely on the caller's.
    command = f"umask 022; exec {sys.executable} -m flask --app app " + " ".join(args)
    result = subprocess.run(["sh", "-c", command], cwd=ROOT, env=env, input=stdin, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def _open_to_others(root: Path) -> list[str]:
    found = [] if root.stat().st_mode & 0o077 == 0 else [f"{root} {oct(root.stat().st_mode)}"]
    for path in root.rglob("*"):
        mode = path.stat().st_mode
        if mode & 0o077:
            found.append(f"{path.relative_to(root)} {oct(mode & 0o777)}")
    return found


SCRIPT = """
from pathlib import Path
from flask_migrate import upgrade
from app import create_app
from dunning.crypto import encrypt_secret
from dunning.sender import OutboxItem, SendLog
from dunning.users import create_user
from models import db
app = create_app()
with app.app_context():
    upgrade()
    create_user(db.session, "gerente", "senha-segura-1")
    encrypt_secret(app.instance_path, "senha-smtp")
    log = SendLog(Path(app.instance_path), 1)
    log.write(OutboxItem(1, "C1", ["c@x.example.com"], None))
    log.close()
"""


def test_everything_the_app_creates_is_private(tmp_path):
    """In a real process started with a permissive umask (022, as a login shell has)."""
    instance = tmp_path / "instance"
    env = {**os.environ, "APPLIANCE_INSTANCE": str(instance)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(["sh", "-c", f"umask 022; exec {sys.executable} -c '{SCRIPT}'"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in instance.rglob("*")}
    assert {"appliance.db", "secret_key", "smtp.key", "envios.log"} <= names, names
    assert _open_to_others(instance) == []


@pytest.mark.sqlite_only
def test_a_readable_instance_left_by_an_older_version_is_narrowed(tmp_path, migrated_db):
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(migrated_db, instance / "appliance.db")
    (instance / "secret_key").write_text("x" * 64)
    (instance / "logs").mkdir()
    (instance / "logs" / "envios.log").write_text("x")
    for path in (instance, instance / "logs", instance / "logs" / "envios.log",
                 instance / "appliance.db", instance / "secret_key"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (instance / "appliance.db-wal").write_text("")
    (instance / "appliance.db-wal").chmod(0o666)
    _flask(instance, "export-policies")
    assert _open_to_others(instance) == []


@pytest.mark.sqlite_only
def test_a_database_kept_outside_instance_is_narrowed(tmp_path):
    from app import create_app
    from models import db
    database = tmp_path / "elsewhere.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "i"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    assert database.stat().st_mode & 0o077 == 0
    with app.app_context():
        db.engine.dispose()
