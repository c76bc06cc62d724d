"""The station's backups: a consistent copy of the SQLite database plus the key files, and back.

The copy uses SQLite's online backup API (``sqlite3.Connection.backup``): it reads the database
under one read transaction, so a backup taken while the app serves or a run sends is the database
as it was at one moment, never a half-written file. The key files go with it because the SMTP
password in the database is only readable with ``smtp.key``. Each backup is a folder named after
its time (``backup-AAAA-MM-DD_HHMMSS``), written under a temporary name and renamed when complete,
readable by its owner only; the oldest beyond ``keep`` are removed.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dunning.os_errors import os_reason
from dunning.typed_input import shown

DB_FILE = "appliance.db"
PREFIX = "backup-"
STAMP = "%Y-%m-%d_%H%M%S"
# The secrets the database needs (smtp.key: the SMTP password; secret_key: the login sessions),
# and any other key file a feature keeps in the instance folder.
KEY_FILES = ("smtp.key", "secret_key")


class BackupError(Exception):
    """A backup or restore that could not be done; the message is for staff (pt-BR)."""


@dataclass(frozen=True)
class Backup:
    """One complete backup folder."""

    path: Path
    taken_at: datetime
    size: int

    @property
    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir())


def default_folder(instance_path: str | os.PathLike) -> Path:
    """Where backups go when staff chose no folder."""
    return Path(instance_path) / "backups"


def sqlite_file(engine) -> Path | None:
    """The database file behind ``engine``, or None on PostgreSQL (pg_dump's job there)."""
    if engine.dialect.name != "sqlite":
        return None
    return Path(engine.url.database)


def station_folder(settings, instance_path: str | os.PathLike) -> Path:
    """The folder staff chose in Configurações, or instance/backups."""
    return Path(settings.backup_folder) if settings.backup_folder else default_folder(instance_path)


def take_station_backup(session, engine, instance_path: str | os.PathLike, now: datetime,
                        folder: str | os.PathLike | None = None) -> Backup:
    """A backup with the station's settings (folder unless given, how many to keep)."""
    from models import StationSettings
    settings = StationSettings.load(session)
    session.commit()
    target = Path(folder) if folder else station_folder(settings, instance_path)
    return take_backup(sqlite_file(engine), instance_path, target, now, keep=settings.backup_keep)


def key_files(instance_path: str | os.PathLike) -> list[Path]:
    """The instance folder's key files that exist."""
    folder = Path(instance_path)
    names = set(KEY_FILES) | {p.name for p in folder.glob("*.key")}
    return [folder / name for name in sorted(names) if (folder / name).is_file()]


def list_backups(folder: str | os.PathLike) -> list[Backup]:
    """The complete backups in ``folder``, newest first (a missing folder has none)."""
    found = []
    try:
        entries = list(Path(folder).iterdir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BackupError(f"Não foi possível ler a pasta de backups {shown(folder)}: "
                          f"{os_reason(exc)}.") from exc
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not (entry / DB_FILE).is_file():
            continue
        try:
            taken_at = datetime.strptime(entry.name[len(PREFIX):len(PREFIX) + 17], STAMP)
        except ValueError:
            continue
        size = sum(p.stat().st_size for p in entry.iterdir() if p.is_file())
        found.append(Backup(entry, taken_at, size))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def take_backup(db_file: str | os.PathLike, instance_path: str | os.PathLike,
                folder: str | os.PathLike, now: datetime, keep: int | None = 30) -> Backup:
    """Copy the database and the key files into a new dated folder; keep the newest ``keep``."""
    folder = Path(folder)
    final = folder / (PREFIX + now.strftime(STAMP))
    partial = folder / ("." + final.name + ".partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(2, 100):  # two backups in one second (a restore's safety copy)
            if not final.exists():
                break
            final = folder / f"{PREFIX}{now.strftime(STAMP)}-{n}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(mode=0o700)
        os.chmod(partial, 0o700)  # mkdir's mode is reduced by the umask; this is exact
        _copy_database(Path(db_file), partial / DB_FILE)
        for key in key_files(instance_path):
            _copy_private(key, partial / key.name)
        partial.rename(final)
    except BackupError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"Não foi possível gravar o backup em {shown(folder)}: "
                          f"{_reason(exc)}.") from exc
    if keep:
        for old in list_backups(folder)[keep:]:
            shutil.rmtree(old.path, ignore_errors=True)
    return list_backups(folder)[0] if keep else Backup(final, now, 0)


def check_folder(folder: str) -> str | None:
    """Why backups cannot be written to ``folder`` (pt-BR), or None when they can."""
    path = Path(folder)
    if not path.is_absolute():
        return ("Informe o caminho completo da pasta "
                "(por exemplo D:\\Backups ou \\\\servidor\\backups).")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".teste-de-gravacao"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"Não foi possível gravar na pasta {shown(folder)}: {os_reason(exc)}."
    return None


def check_backup(path: str | os.PathLike) -> Path:
    """The backup's database file once it is known to be whole; BackupError otherwise."""
    path = Path(path)
    source = path / DB_FILE
    try:
        found = source.is_file()
    except OSError as exc:  # a name too long, a loop of links: is_file() only hides "not found"
        raise BackupError(f"{shown(path)} não pode ser lido: {os_reason(exc)}.") from exc
    if not found:
        raise BackupError(f"{shown(path)} não é um backup: falta o arquivo {DB_FILE}.")
    try:
        with closing(_connect(source, read_only=True)) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{shown(source)} não é um banco de dados do aplicativo ({exc}).") from exc
    if verdict != "ok":
        raise BackupError(f"O backup {shown(source)} está danificado ({verdict}).")
    return source


def restore_backup(path: str | os.PathLike, db_file: str | os.PathLike,
                   instance_path: str | os.PathLike) -> list[str]:
    """Put the backup in ``path`` back in place of the database and the key files it holds.

    The database is written through the backup API too, so the app's open connections see the
    restored data on their next read. Returns the names of the key files put back.
    """
    source = check_backup(path)
    try:
        with closing(_connect(source, read_only=True)) as src, \
                closing(_connect(Path(db_file))) as dst:
            src.backup(dst)
            # The lock row comes back as it was when the backup was taken: nobody holds it now.
            dst.execute("UPDATE run_lock SET token = '', pid = 0")
            dst.commit()
        restored = []
        for key in sorted(Path(path).iterdir()):
            if key.name in KEY_FILES or key.suffix == ".key":
                _copy_private(key, Path(instance_path) / key.name)
                restored.append(key.name)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"Não foi possível restaurar o backup: "
                          f"{_reason(exc)}.") from exc
    return restored


def _reason(exc: OSError | sqlite3.Error) -> str:
    return os_reason(exc) if isinstance(exc, OSError) else str(exc)


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    return sqlite3.connect(path, timeout=30)


def _copy_database(source: Path, target: Path) -> None:
    """The online backup: one consistent snapshot of ``source``, even while others write to it."""
    if not source.is_file():
        raise BackupError(f"Banco de dados não encontrado: {source}.")
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with closing(_connect(source)) as src, closing(_connect(target)) as dst:
        src.backup(dst)
        # The copy stands alone: one file, no -wal beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
    os.chmod(target, 0o600)


def _copy_private(source: Path, target: Path) -> None:
    """Copy a small secret file, the copy readable by its owner only."""
    data = source.read_bytes()
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
