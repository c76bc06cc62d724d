"""Staff users of the browser forms: creation, password check with the failed-login lock, and
the server-side sessions that logout and a password change end.

Throttling is split in two (README, "Segurança"): this module locks a *user name* after
LOCK_AFTER failures within LOCK_WINDOW, in the database so the lock holds across threads,
processes and restarts; the web layer (Flask-Limiter) limits failures per *client address*.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import LoginSession, LoginThrottle, User

MIN_PASSWORD = 8
LOCK_AFTER = 5
LOCK_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)


class UserError(ValueError):
    """A user cannot be created as asked; the message is for staff (pt-BR)."""


@dataclass(frozen=True)
class LoginResult:
    """A login attempt's outcome: the user, or why not (``locked_until`` when the name is locked)."""

    user: User | None = None
    locked_until: datetime | None = None


def _check_new_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"A senha precisa ter ao menos {MIN_PASSWORD} caracteres.")


def create_user(session: Session, username: str, password: str) -> User:
    """Create and commit a user with a hashed password; UserError when the name is taken or bad."""
    username = (username or "").strip()
    if not username or len(username) > 80:
        raise UserError("O nome de usuário deve ter de 1 a 80 caracteres.")
    _check_new_password(password)
    taken = _by_name(session, username)
    if taken is not None:
        raise UserError(f"Já existe um usuário chamado {taken.username}.")
    user = User(username=username)
    user.set_password(password)
    session.add(user)
    session.commit()
    return user


def _by_name(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.username) == _key(username)))


def _key(username: str | None) -> str:
    """The name as the lock counts it: any case, surrounding blanks ignored."""
    return (username or "").strip().lower()[:255]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to check when there is no real one, so every attempt costs one hash check."""
    return generate_password_hash(secrets.token_hex(16))


def find_user(session: Session, username: str, password: str) -> User | None:
    """The user when name (any case) and password match, else None (same cost either way)."""
    user = _by_name(session, username)
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")
    return user if user is not None and matches else None


def attempt_login(session: Session, username: str, password: str, now: datetime) -> LoginResult:
    """Check a login against the lock: a locked name is refused even with the right password.

    A failure is counted (the LOCK_AFTER-th locks the name for LOCK_FOR); a success clears the
    count. Unknown names are counted and locked alike and cost the same hash check, so neither
    the answer nor its time tells which names exist. Commits.
    """
    key = _key(username)
    row = session.get(LoginThrottle, key)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        check_password_hash(_dummy_hash(), password or "")
        session.rollback()
        return LoginResult(locked_until=row.locked_until)
    user = find_user(session, username, password)
    if user is not None:
        session.execute(delete(LoginThrottle).where(LoginThrottle.username_key == key))
        session.commit()
        return LoginResult(user=user)
    return LoginResult(locked_until=_count_failure(session, key, now))


def _count_failure(session: Session, key: str, now: datetime) -> datetime | None:
    """One more failure of ``key``, counted with single UPDATEs (safe across processes);
    the lock's end when this failure locks the name."""
    table = LoginThrottle.__table__
    fresh = (table.c.window_start.is_(None)) | (table.c.window_start < now - LOCK_WINDOW)
    step = update(table).where(table.c.username_key == key).values(
        failures=case((fresh, 1), else_=table.c.failures + 1),
        window_start=case((fresh, now), else_=table.c.window_start))
    if session.execute(step).rowcount == 0:
        try:
            with session.begin_nested():
                session.add(LoginThrottle(username_key=key, failures=1, window_start=now))
        except IntegrityError:  # another process counted this name a moment ago
            session.execute(step)
    locked_until = now + LOCK_FOR
    lock = update(table).where(table.c.username_key == key,
                               table.c.failures >= LOCK_AFTER).values(
        failures=0, window_start=None, locked_until=locked_until)
    locked = session.execute(lock).rowcount > 0
    # Forget names whose failures are old and that are not locked (unknown names pile up).
    session.execute(delete(table).where(
        table.c.window_start < now - LOCK_WINDOW,
        (table.c.locked_until.is_(None)) | (table.c.locked_until < now)))
    session.commit()
    return locked_until if locked else None


def start_session(session: Session, user: User, now: datetime) -> str:
    """Open a server-side session for ``user``; its token goes in the cookie. Commits."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user.id, token=token, created_at=now))
    session.commit()
    user.session_token = token
    return token


def session_user(session: Session, token: str) -> User | None:
    """The user of the open session ``token``, or None (ended, or never existed)."""
    if not token or len(token) > 64:
        return None
    user = session.scalar(select(User).join(LoginSession, LoginSession.user_id == User.id)
                          .where(LoginSession.token == token))
    if user is not None:
        user.session_token = token
    return user


def end_session(session: Session, token: str) -> None:
    """End one session for good: its cookie is refused from now on. Commits."""
    session.execute(delete(LoginSession).where(LoginSession.token == token))
    session.commit()


def change_password(session: Session, user: User, password: str,
                    keep_token: str | None = None) -> None:
    """Set a new password and end every session of ``user`` but ``keep_token``. Commits."""
    _check_new_password(password)
    user.set_password(password)
    ended = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_token:
        ended = ended.where(LoginSession.token != keep_token)
    session.execute(ended)
    session.commit()


def user_named(session: Session, username: str) -> User | None:
    """The user called ``username`` (any case), or None."""
    return _by_name(session, username)
