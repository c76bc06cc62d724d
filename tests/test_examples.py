"""First use (issue 10 item 20): the README's first steps with the files in examples/ end in a
preview with reminders; /favicon.ico is served (from static/, no login needed)."""
from __future__ import annotations

import json
import shlex
import re
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 12, 1)


def test_the_readme_first_steps_lead_to_a_preview_with_reminders(runner, staff):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    steps = readme[readme.index("## First steps"):]
    for command in ("import-invoices examples/faturas.csv",
                    "import-policies examples/politicas.csv",
                    'set-company 1 --address "Rod. BR-040, km 10, Brasília-DF"',
                    'set-company 2 --address "SCS Quadra 2, Brasília-DF"'):
        assert command in steps
        result = runner.invoke(args=shlex.split(command))
        assert result.exit_code == 0, result.output
    assert "make run PORT=" in readme

    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json",
                                 "--date", AS_OF.isoformat()])
    plan = json.loads(result.output)
    assert [r["customer"] for r in plan["reminders"]] == ["C001"]
    assert {s["customer"]: s["reason"] for s in plan["skipped"]} == {
        "C002": "no_email", "C003": "nothing_overdue"}
    page = staff.get(f"/previa/?data={AS_OF.isoformat()}").get_data(as_text=True)
    assert "</a> · Transportadora Rápida S.A.</h2>" in page
    assert "<strong>Para:</strong> financeiro@rapida.com.br" in page


def test_favicon_is_served_without_login(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert response.data == (ROOT / "static" / "favicon.ico").read_bytes()
    assert re.search(r'<link rel="icon" href="/favicon.ico"',
                     client.get("/primeiro-acesso").get_data(as_text=True))
