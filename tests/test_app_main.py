"""`python app.py` as the station starts it (issue 10 items 18 and 20), in real processes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path, db_url) -> dict:
    return {**os.environ, "DATABASE_URL": db_url,
            "APPLIANCE_INSTANCE": str(tmp_path / "instance")}


def test_a_port_in_use_says_the_app_may_be_open_already_and_exits_2(tmp_path, db_url):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        done = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                              env=_env(tmp_path, db_url), capture_output=True, text=True,
                              timeout=60)
    finally:
        busy.close()
    assert done.returncode == 2, done.stderr
    assert f"a porta {port} já está em uso" in done.stderr
    assert "O aplicativo provavelmente já está aberto" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
