"""Pré-visualizar envio: the messages a run would send on a date, and "Enviar agora"."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("preview", __name__, url_prefix="/previa")


@bp.route("/")
def index():
    return render_template("error.html", code=503, title="Em construção", message="")
