"""The Windows scripts cannot run here: check what can be checked (files and options they use)."""
from __future__ import annotations

import re
from pathlib import Path

from app import _parse_args

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("instalar.cmd", "iniciar.cmd", "enviar-lembretes.cmd")


def test_scripts_name_files_that_exist():
    for name in SCRIPTS:
        text = (ROOT / name).read_text(encoding="ascii")  # plain ASCII: no code page surprises
        for used in re.findall(r"(?<![\w-])[a-z][\w-]*\.(?:txt|cmd|py)\b", text.replace("%~dp0", " ")):
            assert (ROOT / used).is_file(), f"{name} uses {used}"


def test_scripts_do_what_the_makefile_does_and_pass_options_app_py_knows():
    install = (ROOT / "instalar.cmd").read_text(encoding="ascii")
    make = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt" in install and "-r requirements.txt" in make
    assert "--app app db upgrade" in install and "--app app db upgrade" in make
    assert "/SC DAILY /ST %HORA%" in install and "set HORA=08:00" in install
    assert "/SC ONLOGON" in install
    for name in ("iniciar.cmd", "enviar-lembretes.cmd"):
        line = next(l for l in (ROOT / name).read_text(encoding="ascii").splitlines()
                    if "app.py" in l and not l.startswith("rem"))
        options = line.split("app.py", 1)[1].replace("%PORT%", "8080").split()
        _parse_args(options)  # exits (SystemExit) on an option app.py does not know
