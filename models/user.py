"""Staff users of the browser forms, their open sessions and the failed-login counters."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from models import db


class User(UserMixin, db.Model):
    """A staff login; only a salted hash of the password is stored."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))

    # The LoginSession this request came with (set by the login and the user loader): what the
    # session cookie carries instead of the user id, so a session can be ended server-side.
    session_token = None

    def get_id(self) -> str:
        """The session's token (Flask-Login stores it in the cookie)."""
        return self.session_token or ""

    def set_password(self, password: str) -> None:
        """Store a hash of ``password``, never the password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)


class LoginSession(db.Model):
    """One browser session of a user; deleting the row ends it (logout, password change)."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class LoginThrottle(db.Model):
    """Recent failed logins of one user name (known or not, so a lock reveals nothing).

    Kept in the database, not in memory: the lock must hold across waitress threads, server
    restarts and the several processes of a chain on PostgreSQL.
    """

    __tablename__ = "login_throttle"

    username_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime | None] = mapped_column(default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
