"""Key files created by processes that start together on a new station (the server and the
scheduled job, two imports): all of them end with the same, whole key, and none fails."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from dunning.crypto import load_key
from dunning.private_files import create_once

ROOT = Path(__file__).resolve().parent.parent


def test_racing_creators_all_read_the_one_whole_key(tmp_path):
    for round_ in range(30):
        path = tmp_path / f"k{round_}" / "secret_key"
        start, results, errors = threading.Barrier(8), [], []

        def create(n: int) -> None:
            start.wait()
            try:
                results.append(create_once(path, lambda: f"key-of-{n}".encode() * 4))
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(set(results)) == 1 and results[0].startswith(b"key-of-")
        assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary left
        if os.name == "posix":
            assert path.stat().st_mode & 0o777 == 0o600


def test_the_smtp_key_is_created_once(tmp_path):
    assert load_key(tmp_path) == load_key(tmp_path) and len(load_key(tmp_path)) == 44


def test_two_processes_starting_on_a_new_instance_share_its_keys(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
           "APPLIANCE_INSTANCE": str(tmp_path / "instance")}
    code = ("from app import create_app; from dunning.crypto import load_key; "
            "app = create_app(); print(app.config['SECRET_KEY'], load_key(app.instance_path).decode())")
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outputs
    assert len({out for out, _ in outputs}) == 1
