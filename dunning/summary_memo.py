"""The last plan summaries, kept while nothing in the database has changed since they were made.

At a chain's size (100,000 customers) the summary of who is due takes over a second to compute
(bench/README.md), and staff page through the same one: "Pré-visualizar envio" needs it for every
page. This keeps the last few (``KEPT``, one per date) per database and process, and hands one
back only while the database is provably unchanged:

* SQLite: ``PRAGMA data_version`` on a connection of our own that never writes. Its value changes
  whenever any other connection, of this process or of another (the scheduled run, a second
  server, the import from the command line), commits a change to the file.
* PostgreSQL: the current snapshot (``pg_current_snapshot()``). It stays the same only while no
  transaction that writes starts or ends anywhere on the server.

The version is read before the summary's queries run: a change committed while they run leaves
the memo under the older version, so the next view computes again (a change is never missed, at
worst a summary is computed twice). While one thread computes a value, another asking for the same
key at the same version waits for it instead of computing it alongside (the server's look ahead
and a view, or two views): two computations at once would share one interpreter and both take
twice as long. A session holding uncommitted writes of its own neither reads
nor fills the memo; an in-memory SQLite database has no version and is never remembered. What
depends on the clock is the caller's to put in the key.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

T = TypeVar("T")


# Values kept per database: today's preview (which the server computes ahead) and the dates
# staff page through next to it, without one pushing the other out at every view.
KEPT = 3
# How long a caller waits for another thread's computation of the same value before computing it
# itself (a computation stuck on the database must not hold every view up).
WAIT_SECONDS = 60.0


@dataclass
class _Memo:
    """One database's remembered values (all of one version, the most recently used last), and
    the connection that watches the SQLite file."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    version: object = None
    values: OrderedDict = field(default_factory=OrderedDict)
    watcher: sqlite3.Connection | None = None
    watched: tuple[int, int] | None = None      # (device, inode) of the file the watcher opened
    # (version, key) -> set when the thread computing that value is done, kept or not.
    computing: dict[tuple, threading.Event] = field(default_factory=dict)


_memos: WeakKeyDictionary[Engine, _Memo] = WeakKeyDictionary()
_memos_lock = threading.Lock()


def database_version(session: Session) -> object:
    """The database's version as ``remembered`` reads it: it differs after any committed change
    (None: this database or session cannot tell)."""
    engine = session.get_bind()
    memo = _memo_of(engine)
    with memo.lock:
        return _version(session, engine, memo)


def remembered(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or the value it returned for ``key`` when nothing changed since.

    When another thread is computing it for the same version, waits for that value (or, should
    that computation fail or take over ``WAIT_SECONDS``, computes it here). The value is shared by
    every caller that gets it from here: it must not be changed.
    """
    engine = session.get_bind()
    memo = _memo_of(engine)
    mine: threading.Event | None = None     # set when this thread is done computing
    while True:
        with memo.lock:
            version = _version(session, engine, memo)
            if version is not None and memo.version == version and key in memo.values:
                memo.values.move_to_end(key)
                return memo.values[key]
            running = memo.computing.get((version, key)) if version is not None else None
            if running is None:
                if version is not None:
                    mine = memo.computing[version, key] = threading.Event()
                break
        if not running.wait(WAIT_SECONDS):
            version = None      # compute here, and keep nothing: the other one will
            break
    try:
        value = compute()
        if version is not None:
            with memo.lock:
                if memo.version != version:     # what was kept is of an older (or newer) version
                    memo.version, memo.values = version, OrderedDict()
                memo.values[key] = value
                while len(memo.values) > KEPT:
                    memo.values.popitem(last=False)
        return value
    finally:
        if mine is not None:
            with memo.lock:
                memo.computing.pop((version, key), None)
            mine.set()


def _memo_of(engine: Engine) -> _Memo:
    with _memos_lock:
        memo = _memos.get(engine)
        if memo is None:
            memo = _memos[engine] = _Memo()
        return memo


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
