"""Configurações: SMTP, sending settings and the e-mail templates."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("settings", __name__, url_prefix="/configuracoes")


@bp.route("/")
def index():
    return render_template("error.html", code=503, title="Em construção", message="")
