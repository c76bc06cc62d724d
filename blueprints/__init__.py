"""Blueprints: one per page area, plus the command-line commands."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to ``app``."""
    from blueprints import cli
    app.register_blueprint(cli.bp)
    from blueprints.web import register_pages
    register_pages(app)
