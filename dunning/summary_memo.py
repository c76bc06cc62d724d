"""The last plan summary, kept while nothing in the database has changed since it was computed.

At a chain's size (100,000 customers) the summary of who is due takes over a second to compute
(bench/README.md), and staff page through the same one: "Pré-visualizar envio" needs it for every
page. This keeps one summary per database and process, and hands it back only while the database
is provably unchanged:

* SQLite: ``PRAGMA data_version`` on a connection of our own that never writes. Its value changes
  whenever any other connection, of this process or of another (the scheduled run, a second
  server, the import from the command line), commits a change to the file.
* PostgreSQL: the current snapshot (``pg_current_snapshot()``). It stays the same only while no
  transaction that writes starts or ends anywhere on the server.

The version is read before the summary's queries run: a change committed while they run leaves
the memo under the older version, so the next view computes again (a change is never missed, at
worst a summary is computed twice). A session holding uncommitted writes of its own neither reads
nor fills the memo; an in-memory SQLite database has no version and is never remembered. What
depends on the clock is the caller's to put in the key.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass
class _Memo:
    """One database's remembered value, and the connection that watches the SQLite file."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    key: Hashable = None
    version: object = None
    value: object = None
    watcher: sqlite3.Connection | None = None
    watched: tuple[int, int] | None = None      # (device, inode) of the file the watcher opened


_memos: WeakKeyDictionary[Engine, _Memo] = WeakKeyDictionary()
_memos_lock = threading.Lock()


def remembered(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or the value it returned for ``key`` when nothing changed since.

    The value is shared by every caller that gets it from here: it must not be changed.
    """
    engine = session.get_bind()
    with _memos_lock:
        memo = _memos.get(engine)
        if memo is None:
            memo = _memos[engine] = _Memo()
    with memo.lock:
        version = _version(session, engine, memo)
        if version is not None and memo.version == version and memo.key == key:
            return memo.value
    value = compute()
    if version is not None:
        with memo.lock:
            memo.key, memo.version, memo.value = key, version, value
    return value


def _version(session: Session, engine: Engine, memo: _Memo) -> object:
    """Something that differs whenever a change has been committed to the database since it was
    last read (None: cannot tell, or this session has uncommitted changes of its own)."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        if (engine.dialect.server_version_info or (0,)) < (13,):
            return None     # pg_current_snapshot() and its kin came with PostgreSQL 13
        own_writes, snapshot = session.execute(text(
            "SELECT pg_current_xact_id_if_assigned() IS NOT NULL, pg_current_snapshot()::text"
        )).one()
        return None if own_writes else snapshot
    path = engine.url.database if dialect == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    if session.connection().connection.driver_connection.in_transaction:
        return None     # sqlite3 opens a transaction only for a write: this session has one
    try:
        stat = os.stat(path)
        if memo.watched != (stat.st_dev, stat.st_ino):   # first use, or another file put there
            if memo.watcher is not None:
                memo.watcher.close()
            memo.watcher, memo.watched = None, None
            memo.watcher = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            memo.watched = (stat.st_dev, stat.st_ino)
        return memo.watched, memo.watcher.execute("PRAGMA data_version").fetchone()[0]
    except (OSError, sqlite3.Error):
        return None
