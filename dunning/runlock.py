"""The run lock: one row in the database, claimed by compare-and-swap (no fcntl: works on Windows).

A claim names its process (pid and host) and is refreshed by a heartbeat. The next run takes it
over when that process is dead on this host, or when the heartbeat is older than ``stale_after``
(the holder is on another PC, or hung), so a crash never blocks the station for good.
"""
from __future__ import annotations

import os
import socket
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.delivery import RunLock

STALE_AFTER = timedelta(minutes=30)
LOCK_ID = 1


@dataclass
class LockHolder:
    """Who holds the lock, for the "another run in progress" message."""

    pid: int
    host: str
    acquired_at: datetime | None
    heartbeat_at: datetime | None


class LockBusy(Exception):
    """Another run holds the lock and is alive."""

    def __init__(self, holder: LockHolder):
        started = holder.acquired_at.strftime("%d/%m/%Y %H:%M:%S") if holder.acquired_at else "?"
        super().__init__(f"Outro envio está em andamento (processo {holder.pid} em {holder.host}, "
                         f"iniciado em {started}). Nada foi enviado.")
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

    def __init__(self, session: Session, token: str, now: datetime, taken_over: LockHolder | None):
        self.session = session
        self.token = token
        self.taken_over = taken_over
        self._last_beat = now

    def due(self, now: datetime, every: timedelta = timedelta(seconds=30)) -> bool:
        """Whether the claim should be refreshed now (at most every ``every``)."""
        return now - self._last_beat >= every

    def heartbeat(self, now: datetime) -> None:
        """Refresh the claim; commits. Raises LockLost if another run took it over."""
        result = self.session.execute(update(RunLock).where(
            RunLock.id == LOCK_ID, RunLock.token == self.token).values(heartbeat_at=now))
        self.session.commit()
        if result.rowcount != 1:
            raise LockLost("A trava do envio foi tomada por outro processo; envio interrompido.")
        self._last_beat = now

    def release(self) -> None:
        """Free the lock if we still hold it; commits."""
        self.session.rollback()
        self.session.execute(update(RunLock).where(
            RunLock.id == LOCK_ID, RunLock.token == self.token).values(token="", pid=0))
        self.session.commit()


def acquire(session: Session, now: datetime, stale_after: timedelta = STALE_AFTER) -> RunLease:
    """Claim the run lock or raise LockBusy; commits. ``now`` is the station's clock."""
    row = session.execute(select(RunLock.token, RunLock.pid, RunLock.host, RunLock.acquired_at,
                                 RunLock.heartbeat_at).where(RunLock.id == LOCK_ID)).first()
    if row is None:
        try:
            session.execute(insert(RunLock).values(id=LOCK_ID, token="", pid=0, host=""))
            session.commit()
        except IntegrityError:
            session.rollback()
        return acquire(session, now, stale_after)
    holder = LockHolder(row.pid, row.host, row.acquired_at, row.heartbeat_at)
    taken_over = None
    if row.token:
        if not _abandoned(holder, now, stale_after):
            session.rollback()
            raise LockBusy(holder)
        taken_over = holder
    token = uuid.uuid4().hex
    result = session.execute(update(RunLock).where(
        RunLock.id == LOCK_ID, RunLock.token == row.token).values(
        token=token, pid=os.getpid(), host=_host(), acquired_at=now, heartbeat_at=now))
    session.commit()
    if result.rowcount != 1:  # another run claimed it between our read and our update
        current = session.execute(select(RunLock.pid, RunLock.host, RunLock.acquired_at,
                                         RunLock.heartbeat_at).where(RunLock.id == LOCK_ID)).one()
        session.rollback()
        raise LockBusy(LockHolder(*current))
    return RunLease(session, token, now, taken_over)


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
