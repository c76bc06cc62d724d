"""Staff users of the browser forms: creation (CLI and first-run page) and password check."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import User

MIN_PASSWORD = 8


class UserError(ValueError):
    """A user cannot be created as asked; the message is for staff (pt-BR)."""


def create_user(session: Session, username: str, password: str) -> User:
    """Create and commit a user with a hashed password; UserError when the name is taken or bad."""
    username = (username or "").strip()
    if not username or len(username) > 80:
        raise UserError("O nome de usuário deve ter de 1 a 80 caracteres.")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"A senha precisa ter ao menos {MIN_PASSWORD} caracteres.")
    taken = session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if taken is not None:
        raise UserError(f"Já existe um usuário chamado {taken.username}.")
    user = User(username=username)
    user.set_password(password)
    session.add(user)
    session.commit()
    return user


def find_user(session: Session, username: str, password: str) -> User | None:
    """The user when name (any case) and password match, else None."""
    user = session.scalar(select(User).where(func.lower(User.username) == (username or "").strip().lower()))
    if user is None or not user.check_password(password or ""):
        return None
    return user
