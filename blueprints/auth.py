"""Login, logout and the first-run page that creates the first user."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import exists, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from dunning.users import UserError, create_user, find_user
from models import User, db

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("Usuário", validators=[DataRequired("Informe o usuário.")])
    password = PasswordField("Senha", validators=[DataRequired("Informe a senha.")])


class SetupForm(FlaskForm):
    username = StringField("Usuário", validators=[DataRequired("Informe o usuário."), Length(max=80)])
    password = PasswordField("Senha", validators=[
        DataRequired("Informe a senha."), Length(min=8, message="A senha precisa ter ao menos 8 caracteres.")])
    confirm = PasswordField("Repita a senha", validators=[
        EqualTo("password", message="As senhas não conferem.")])


def _no_user_yet() -> bool:
    return not db.session.scalar(select(exists().where(User.id.isnot(None))))


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a login to another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


@bp.route("/entrar", methods=["GET", "POST"])
def login():
    """The login form."""
    if _no_user_yet():
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user(db.session, form.username.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("Usuário ou senha incorretos.")
    return render_template("auth/login.html", form=form)


@bp.route("/sair", methods=["POST"])
@login_required
def logout():
    """End the session (POST, so a link on another site cannot log staff out)."""
    logout_user()
    flash("Você saiu do sistema.", "info")
    return redirect(url_for("auth.login"))


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
            login_user(user)
            flash(f"Usuário {user.username} criado. Bem-vindo!", "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/setup.html", form=form)
