"""Files at rest readable by the station's user only: the instance folder holds customer data,
password hashes, the session and SMTP keys, the send log and backups.

On POSIX the process umask is narrowed before anything is created (new files 0600, folders
0700), and what an older version or a copied folder left readable by others is narrowed on
every start. Windows keeps its folder ACLs (a user's profile is private by default).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

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
