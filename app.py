"""The overdue-invoice e-mail appliance: application factory and command-line entry.

``python app.py`` serves the browser forms with waitress on 127.0.0.1:8080;
``python app.py --email_pendencia_financeira`` runs the daily reminder job (for the OS scheduler).
"""
from __future__ import annotations

import argparse
import errno
import os
import secrets
import sys
from pathlib import Path

from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import event

from dunning.os_errors import os_reason
from dunning.private_files import create_once, make_private, private_umask
from models import db

BASE_DIR = Path(__file__).resolve().parent
migrate = Migrate()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then ``instance/config.py``, then the caller's overrides."""
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("APPLIANCE_INSTANCE")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    private_umask()  # before the first file is created: the owner's only (README, Security)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL")
        or "sqlite:///" + os.path.join(app.instance_path, "appliance.db"),
        MAX_CONTENT_LENGTH=int(os.environ.get("UPLOAD_LIMIT_MB", "50")) * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PER_PAGE=50,
        # How often the server looks whether today's preview counts need computing ahead
        # (blueprints.preview.PreviewWarmer); 0 = never.
        PREVIEW_WARM_SECONDS=1,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")

    make_private(app.instance_path, *_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"]))
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)

    from blueprints import register_blueprints
    from blueprints.web import init_web
    init_web(app)  # login, CSRF, error pages, template filters
    register_blueprints(app)
    return app


def _instance_secret(path: Path) -> str:
    """The session-signing key, created once per station and readable by its owner only."""
    return create_once(path, lambda: secrets.token_hex(32).encode("ascii")).decode("ascii")


def _sqlite_file(uri: str) -> list[str]:
    """The SQLite database file of ``uri`` ([] for another database or an in-memory one)."""
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else ""
    return [path.split("?", 1)[0]] if path and path != ":memory:" else []


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Integrity and concurrency settings every SQLite connection needs."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _parse_args(argv: list[str]) -> argparse.Namespace:
    """Options of ``python app.py``: serve (default) or run the scheduled reminder job."""
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Overdue-invoice e-mail appliance. Without options, serves the browser forms.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this PC only)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--email_pendencia_financeira", action="store_true",
                        help="run the daily job: e-mail every delinquent customer, then exit "
                             "(the same job as `flask --app app email-pendencia-financeira`)")
    parser.add_argument("--date", metavar="AAAA-MM-DD",
                        help="with --email_pendencia_financeira: run as of this date (default today)")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --email_pendencia_financeira: send nothing, record nothing")
    parser.add_argument("--json", action="store_true",
                        help="with --email_pendencia_financeira: print the plan or result as JSON")
    parser.add_argument("--customer", metavar="CODE",
                        help="with --email_pendencia_financeira: only this customer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python app.py``."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    app = create_app()
    if args.email_pendencia_financeira:
        from blueprints.cli import run_reminder_job
        return run_reminder_job(app, date=args.date, dry_run=args.dry_run,
                                as_json=args.json, customer=args.customer)
    if args.host not in ("0.0.0.0", "::", ""):  # noqa: S104 - the address we were told to serve on
        app.config["ALLOWED_HOSTS"].append(args.host if ":" not in args.host else f"[{args.host}]")
    from waitress import create_server
    try:
        server = create_server(app, host=args.host, port=args.port, threads=4)
    except OSError as exc:
        print(_cannot_listen(args.host, args.port, exc), file=sys.stderr)
        return 2
    if app.config["PREVIEW_WARM_SECONDS"]:
        from blueprints.preview import start_warmer
        start_warmer(app, app.config["PREVIEW_WARM_SECONDS"])
    print(f"Servindo em http://{args.host}:{args.port}/ (Ctrl+C para parar)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        print("Parado.")
    return 0


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    """Why ``python app.py`` cannot serve on host:port, in the station's words."""
    if exc.errno in (errno.EADDRINUSE, 10048):  # 10048: WSAEADDRINUSE (Windows)
        return (f"Erro: a porta {port} já está em uso. O aplicativo provavelmente já está aberto: "
                f"abra http://{host}:{port}/ no navegador. Se for outro programa, use outra "
                f"porta: python app.py --port {port + 1} (ou make run PORT={port + 1}).")
    if exc.errno in (errno.EACCES, 10013):  # 10013: WSAEACCES
        return (f"Erro: sem permissão para usar a porta {port}; use uma porta acima de 1024, "
                f"por exemplo python app.py --port 8080.")
    return (f"Erro: não foi possível abrir o endereço {host}:{port} "
            f"({os_reason(exc)}); confira --host e --port.")


if __name__ == "__main__":
    sys.exit(main())
