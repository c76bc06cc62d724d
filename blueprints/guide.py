"""Ajuda: the "Guia da estação" (docs/guia-da-estacao.md) rendered by the app, with its pictures.

The guide is a file of the project, so it is the same text in the repository, the README's link
and the browser. Raw HTML in it is not rendered (markdown-it's default), tables scroll in their
own box like every table of the app.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory
from markdown_it import MarkdownIt
from markupsafe import Markup

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDE = DOCS / "guia-da-estacao.md"

bp = Blueprint("guide", __name__, url_prefix="/ajuda")
_markdown = MarkdownIt("js-default")


def guide_html() -> Markup:
    """The guide as HTML: headings get ids (for links inside it), tables a scrolling box."""
    html = _markdown.render(GUIDE.read_text(encoding="utf-8"))
    count = iter(range(1, 1000))
    html = re.sub(r"<table>", lambda _: f'<div class="scroll" tabindex="0" role="region" '
                                        f'aria-label="Tabela {next(count)} do guia"><table>', html)
    html = html.replace("</table>", "</table></div>")
    html = re.sub(r"<(h[1-4])>(.*?)</\1>",
                  lambda m: f'<{m[1]} id="{_slug(m[2])}">{m[2]}</{m[1]}>', html)
    return Markup(html)  # noqa: S704 - our own file, raw HTML disabled in the renderer


def _slug(heading: str) -> str:
    text = re.sub(r"<[^>]+>", "", heading).lower()
    return re.sub(r"[^\w]+", "-", text).strip("-")


@bp.route("/")
def index():
    """The whole guide on one page."""
    return render_template("guide.html", guide=guide_html())


@bp.route("/img/<name>")
def image(name: str):
    """A screenshot of the guide (docs/img), taken by the browser tests."""
    if not re.fullmatch(r"[\w-]+\.png", name):
        abort(404)
    return send_from_directory(DOCS / "img", name)
