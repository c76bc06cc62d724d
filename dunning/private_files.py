"""Files at rest readable by the station's user only: the instance folder holds customer data,
password hashes, the session and SMTP keys, the send log and backups.

On POSIX the process umask is narrowed before anything is created (new files 0600, folders
0700), and what an older version or a copied folder left readable by others is narrowed on
every start. Windows keeps its folder ACLs (a user's profile is private by default).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Callable

PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """Files and folders this process creates from now on are its user's only (POSIX)."""
    if os.name == "posix":
        os.umask(PRIVATE_UMASK)


def make_private(instance_path: str | os.PathLike, *extra_files: str | os.PathLike) -> None:
    """Narrow the umask and the modes of ``instance_path`` (recursively) and of ``extra_files``
    (a database kept elsewhere, with its -wal/-shm companions)."""
    if os.name != "posix":
        return
    private_umask()
    root = Path(instance_path)
    _narrow(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _narrow(Path(folder) / name)
        for name in files:
            _narrow(Path(folder) / name)
    for file in extra_files:
        for path in (Path(file), Path(f"{file}-wal"), Path(f"{file}-shm"), Path(f"{file}-journal")):
            _narrow(path)


def _narrow(path: Path) -> None:
    """Drop group and other permissions from one file or folder of ours (others' are left)."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            return
        if info.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
    except OSError:
        pass  # gone meanwhile, or not ours to change: nothing to narrow


def create_once(path: str | os.PathLike, make: Callable[[], bytes]) -> bytes:
    """The content of the key file ``path``, written with ``make()`` when it does not exist yet.

    Two processes may start together on a new station (the server and the scheduled job, two
    imports): both must end with the same key, and neither may read a file the other has created
    but not yet written. So the key is written in full to a private temporary file beside it and
    linked into place; whoever links second keeps the first one's key.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(make())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process was first: its key stands
        finally:
            os.unlink(temporary)
    return path.read_bytes().strip()
