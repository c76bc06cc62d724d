"""Painel: totals, the aging chart and the last run, at a glance."""
from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, render_template

from dunning.dashboard import BAR_X, CHART_WIDTH, aging_bars, summary
from models import db

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index():
    """The Painel as of today."""
    figures = summary(db.session, date.today(), now=datetime.now())
    return render_template("dashboard.html", s=figures, bars=aging_bars(figures.aging, width=330),
                           chart_width=CHART_WIDTH, bar_x=BAR_X)
