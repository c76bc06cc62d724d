"""Login, logout, password change and the first-run page that creates the first user."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import exists, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from blueprints.guards import limiter, safe_next
from dunning.users import (LOCK_AFTER, UserError, attempt_login, change_password, create_user,
                           end_session, start_session)
from models import User, db

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("Usuário", validators=[DataRequired("Informe o usuário."), Length(max=255)])
    password = PasswordField("Senha", validators=[DataRequired("Informe a senha."), Length(max=500)])


class SetupForm(FlaskForm):
    username = StringField("Usuário", validators=[DataRequired("Informe o usuário."), Length(max=80)])
    password = PasswordField("Senha", validators=[
        DataRequired("Informe a senha."), Length(min=8, message="A senha precisa ter ao menos 8 caracteres.")])
    confirm = PasswordField("Repita a senha", validators=[
        EqualTo("password", message="As senhas não conferem.")])


class PasswordForm(FlaskForm):
    current = PasswordField("Senha atual", validators=[DataRequired("Informe a senha atual.")])
    password = PasswordField("Nova senha", validators=[
        DataRequired("Informe a nova senha."),
        Length(min=8, max=500, message="A senha precisa ter de 8 a 500 caracteres.")])
    confirm = PasswordField("Repita a nova senha", validators=[
        EqualTo("password", message="As senhas não conferem.")])


def _no_user_yet() -> bool:
    return not db.session.scalar(select(exists().where(User.id.isnot(None))))


def _safe_next(target: str | None) -> str:
    """Only a page of this app: any other ``next`` leads to the Painel (blueprints.guards)."""
    return safe_next(target) or url_for("dashboard.index")


def _address_limit() -> str:
    return current_app.config.get("LOGIN_ADDRESS_LIMIT", "20 per 15 minutes")


def _failed(response) -> bool:
    """Only failed logins count against the address (a success redirects)."""
    return request.method == "POST" and response.status_code != 302


def _sign_in(user: User) -> None:
    start_session(db.session, user, datetime.now())
    login_user(user)


@bp.route("/entrar", methods=["GET", "POST"])
@limiter.limit(_address_limit, methods=["POST"], deduct_when=_failed)
def login():
    """The login form; a user name locked by failed attempts is refused even with the right
    password, and each client address gets a limited number of failures (README)."""
    if _no_user_yet():
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        result = attempt_login(db.session, form.username.data, form.password.data,
                               datetime.now())
        if result.user is not None:
            _sign_in(result.user)
            return redirect(_safe_next(request.args.get("next")))
        if result.locked_until is not None:
            form.password.errors.append(
                f"Usuário bloqueado por {LOCK_AFTER} tentativas com senha errada. Tente de novo "
                f"depois das {result.locked_until:%H:%M} (a senha certa também é recusada até lá).")
        else:
            form.password.errors.append("Usuário ou senha incorretos.")
    return render_template("auth/login.html", form=form)


@bp.route("/sair", methods=["POST"])
@login_required
def logout():
    """End the session for good (POST, so a link on another site cannot log staff out)."""
    end_session(db.session, current_user.get_id())
    logout_user()
    flash("Você saiu do sistema.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/senha", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password; every other session of this user ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("Senha atual incorreta.")
        else:
            try:
                change_password(db.session, current_user, form.password.data,
                                keep_token=current_user.get_id())
            except UserError as exc:
                form.password.errors.append(str(exc))
            else:
                flash("Senha alterada. As outras sessões deste usuário foram encerradas.",
                      "success")
                return redirect(url_for("dashboard.index"))
    return render_template("auth/password.html", form=form)


@bp.route("/primeiro-acesso", methods=["GET", "POST"])
def setup():
    """Create the first user; exists only while the station has no user at all."""
    if not _no_user_yet():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = create_user(db.session, form.username.data, form.password.data)
        except UserError as exc:
            form.username.errors.append(str(exc))
        else:
            _sign_in(user)
            flash(f"Usuário {user.username} criado. Bem-vindo!", "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/setup.html", form=form)
