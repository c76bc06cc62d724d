"""The run lock and the import lock: rows in the database, claimed by compare-and-swap (no
fcntl: works on Windows, and on PostgreSQL across PCs).

A claim names its process (pid and host) and is refreshed by a heartbeat. The next run takes it
over when that process is dead on this host, or when the heartbeat is older than ``stale_after``
(the holder is on another PC, or hung), so a crash never blocks the station for good.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.delivery import RunLock

STALE_AFTER = timedelta(minutes=30)
LOCK_ID = 1          # the run's row
IMPORT_LOCK_ID = 2   # the invoice imports' row
# An import cannot refresh its claim while its one long transaction runs: on another PC (where
# its process cannot be looked up) its claim counts as abandoned only after this long.
IMPORT_STALE_AFTER = timedelta(hours=2)


@dataclass
class LockHolder:
    """Who holds the lock, for the "another run in progress" message."""

    pid: int
    host: str
    acquired_at: datetime | None
    heartbeat_at: datetime | None


    def describe(self) -> str:
        """"processo 123 em PC, iniciado em 01/12/2026 08:00:01", for messages."""
        started = self.acquired_at.strftime("%d/%m/%Y %H:%M:%S") if self.acquired_at else "?"
        return f"processo {self.pid} em {self.host}, iniciado em {started}"


class LockBusy(Exception):
    """Another run (or import) holds the lock and is alive."""

    def __init__(self, holder: LockHolder, lock_id: int = LOCK_ID):
        if lock_id == IMPORT_LOCK_ID:
            message = (f"Outra importação de faturas está em andamento ({holder.describe()}). "
                       f"Espere ela terminar e tente de novo.")
        else:
            message = f"Outro envio está em andamento ({holder.describe()}). Nada foi enviado."
        super().__init__(message)
        self.holder = holder


class LockLost(Exception):
    """Our claim was taken over (our heartbeat went stale): stop sending at once."""


def _host() -> str:
    return socket.gethostname()[:255]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (Windows: OpenProcess; elsewhere: kill 0)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists (another user's)
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLease:
    """A held claim on the run lock: heartbeat while working, release when done."""

    def __init__(self, session: Session, token: str, now: datetime, taken_over: LockHolder | None,
                 lock_id: int = LOCK_ID):
        self.session = session
        self.lock_id = lock_id
        self.token = token
        self.taken_over = taken_over
        self._last_beat = now

    def due(self, now: datetime, every: timedelta = timedelta(seconds=30)) -> bool:
        """Whether the claim should be refreshed now (at most every ``every``)."""
        return now - self._last_beat >= every

    def heartbeat(self, now: datetime) -> None:
        """Refresh the claim; commits. Raises LockLost if another run took it over."""
        result = self.session.execute(update(RunLock).where(
            RunLock.id == self.lock_id, RunLock.token == self.token).values(heartbeat_at=now))
        self.session.commit()
        if result.rowcount != 1:
            raise LockLost("A trava do envio foi tomada por outro processo; envio interrompido.")
        self._last_beat = now

    def release(self) -> None:
        """Free the lock if we still hold it; commits."""
        self.session.rollback()
        self.session.execute(update(RunLock).where(
            RunLock.id == self.lock_id, RunLock.token == self.token).values(token="", pid=0))
        self.session.commit()


def acquire(session: Session, now: datetime, stale_after: timedelta = STALE_AFTER,
            lock_id: int = LOCK_ID) -> RunLease:
    """Claim the lock ``lock_id`` or raise LockBusy; commits. ``now`` is the station's clock."""
    row = session.execute(select(RunLock.token, RunLock.pid, RunLock.host, RunLock.acquired_at,
                                 RunLock.heartbeat_at).where(RunLock.id == lock_id)).first()
    if row is None:
        try:
            session.execute(insert(RunLock).values(id=lock_id, token="", pid=0, host=""))
            session.commit()
        except IntegrityError:
            session.rollback()
        return acquire(session, now, stale_after, lock_id)
    holder = LockHolder(row.pid, row.host, row.acquired_at, row.heartbeat_at)
    taken_over = None
    if row.token:
        if not _abandoned(holder, now, stale_after):
            session.rollback()
            raise LockBusy(holder, lock_id)
        taken_over = holder
    token = uuid.uuid4().hex
    result = session.execute(update(RunLock).where(
        RunLock.id == lock_id, RunLock.token == row.token).values(
        token=token, pid=os.getpid(), host=_host(), acquired_at=now, heartbeat_at=now))
    session.commit()
    if result.rowcount != 1:  # another one claimed it between our read and our update
        current = session.execute(select(RunLock.pid, RunLock.host, RunLock.acquired_at,
                                         RunLock.heartbeat_at).where(RunLock.id == lock_id)).one()
        session.rollback()
        raise LockBusy(LockHolder(*current), lock_id)
    return RunLease(session, token, now, taken_over, lock_id)


def holder(session: Session, now: datetime, lock_id: int, stale_after: timedelta) -> LockHolder | None:
    """Who holds the lock ``lock_id`` and is still working under it (None: nobody); reads only."""
    row = session.execute(select(RunLock.token, RunLock.pid, RunLock.host, RunLock.acquired_at,
                                 RunLock.heartbeat_at).where(RunLock.id == lock_id)).first()
    session.rollback()
    if row is None or not row.token:
        return None
    found = LockHolder(row.pid, row.host, row.acquired_at, row.heartbeat_at)
    return None if _abandoned(found, now, stale_after) else found


def busy(session: Session, now: datetime,
         stale_after: timedelta = STALE_AFTER) -> LockHolder | None:
    """Who holds the lock and is alive (a run in progress), or None: a look, without claiming."""
    row = session.execute(select(RunLock.token, RunLock.pid, RunLock.host, RunLock.acquired_at,
                                 RunLock.heartbeat_at).where(RunLock.id == LOCK_ID)).first()
    session.rollback()
    if row is None or not row.token:
        return None
    holder = LockHolder(row.pid, row.host, row.acquired_at, row.heartbeat_at)
    return None if _abandoned(holder, now, stale_after) else holder


def _abandoned(holder: LockHolder, now: datetime, stale_after: timedelta) -> bool:
    """A claim nobody is working under any more."""
    if holder.host == _host() and not pid_alive(holder.pid):
        return True
    return holder.heartbeat_at is None or now - holder.heartbeat_at > stale_after


def wait_while_held(session: Session, lock_id: int, stale_after: timedelta, limit: float,
                    on_wait: Callable[[LockHolder], None] | None = None,
                    poll: float = 1.0) -> LockHolder | None:
    """Wait up to ``limit`` seconds for whoever holds lock ``lock_id``; None once it is free, else
    the holder still working when the time ran out. ``on_wait`` is told once, when waiting starts."""
    deadline = time.monotonic() + limit
    told = False
    while (current := holder(session, datetime.now(), lock_id, stale_after)) is not None:
        if time.monotonic() >= deadline:
            return current
        if on_wait and not told:
            on_wait(current)
            told = True
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.01)))
    return None
