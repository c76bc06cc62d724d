"""The import folder ("Pasta de importação"): the ERP's scheduled export writes files into it; the
scheduled job imports every waiting file before it plans anything.

Per file, oldest first: one modified in the last minute is left for next time (the ERP may still
be writing it); each is imported all or nothing through ``import_invoices`` (the same path and
speed as ``import-invoices``); an accepted file goes to ``importados/AAAA-MM/``, a refused one to
``recusados/`` with a ``.erros.txt`` beside it, one identical (SHA-256) to a file already
imported is recorded ``repetido`` and moved to ``importados/AAAA-MM/`` without importing it again.
Files are never deleted. A file that cannot be moved (Windows: the ERP still holds it) stays; its
SHA-256 is in the history, so the next pass records it ``repetido`` instead of importing it twice.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from dunning import history
from dunning.csvfile import FileRejected
from dunning.importing import ImportOrigin, ImportReport, Repeated, import_invoices
from dunning.os_errors import os_reason
from dunning.typed_input import shown

SETTLE_TIME = timedelta(seconds=60)  # a file younger than this may still be being written
IMPORTED, REFUSED = "importados", "recusados"
ERRORS_SUFFIX = ".erros.txt"


class FolderUnusable(Exception):
    """The folder cannot be read at all (not configured, missing, not a folder, no permission)."""


@dataclass
class FileOutcome:
    """What became of one file of the folder."""

    name: str
    result: str                  # accepted | refused | repeated | waiting | unreadable
    message: str = ""            # pt-BR, for the terminal and the log
    moved_to: str = ""           # the file's new path ("" = it stayed where it was)
    note: str = ""               # why it stayed, when it could not be moved
    record_id: int | None = None
    report: ImportReport | None = None
    errors: list = field(default_factory=list)

    @property
    def problem(self) -> bool:
        """Something staff must look at (the scheduled job exits 1)."""
        return self.result in ("refused", "unreadable")


@dataclass
class FolderReport:
    folder: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """``import-folder``'s code: 0 nothing refused, 1 some file refused or unreadable."""
        return 1 if any(f.problem for f in self.files) else 0


def folder_problem(folder: str) -> str:
    """Why ``folder`` cannot serve as the import folder ("" when it can)."""
    if not folder.strip():
        return "nenhuma pasta de importação configurada (Configurações › Importação ou " \
               "`flask --app app configure-import --folder PASTA`)"
    path, shown_folder = Path(folder), shown(folder)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long: exists() only hides "not found"
        return f"a pasta de importação {shown_folder} não pode ser usada: {os_reason(exc)}"
    if not exists:
        return (f"a pasta de importação {shown_folder} não existe (ou a unidade de rede não está "
                "conectada)")
    if not is_dir:
        return f"{shown_folder} não é uma pasta"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"sem permissão para ler a pasta de importação {shown_folder}"
    return ""


def waiting_files(folder: Path, pattern: str) -> list[os.DirEntry]:
    """The files matching ``pattern`` (case-insensitive), oldest first; raises FolderUnusable."""
    pattern = (pattern or "*.csv").lower()
    try:
        entries = [entry for entry in os.scandir(folder)
                   if entry.is_file() and not entry.name.startswith((".", "~$"))
                   and not entry.name.lower().endswith(ERRORS_SUFFIX)
                   and fnmatch.fnmatchcase(entry.name.lower(), pattern)]
    except OSError as exc:
        raise FolderUnusable(f"não foi possível ler a pasta de importação {folder} "
                             f"({os_reason(exc)})") from exc
    return sorted(entries, key=lambda entry: (entry.stat().st_mtime, entry.name))


def import_folder(session: Session, folder: str, pattern: str, now: datetime, user: str = "",
                  wait: float = 0, on_wait=None,
                  on_file: Callable[[FileOutcome], None] | None = None) -> FolderReport:
    """Import every waiting file of ``folder``, oldest first; raises FolderUnusable.

    ``now`` is the real clock (which files are still too new, the month of ``importados``);
    ``wait``/``on_wait`` as in ``import_invoices``; ``on_file`` is told each outcome at once.
    """
    problem = folder_problem(folder)
    if problem:
        raise FolderUnusable(problem)
    report = FolderReport(folder)
    for entry in waiting_files(Path(folder), pattern):
        outcome = _one(session, Path(entry.path), now, user, wait, on_wait)
        report.files.append(outcome)
        if on_file:
            on_file(outcome)
    return report


def _one(session: Session, path: Path, now: datetime, user: str, wait: float,
         on_wait) -> FileOutcome:
    """Import one file and move it where its result says."""
    try:
        modified = datetime.fromtimestamp(path.stat().st_mtime)
    except OSError as exc:
        return FileOutcome(path.name, "unreadable", f"não foi possível ler o arquivo ({os_reason(exc)})")
    if now - modified < SETTLE_TIME:
        return FileOutcome(path.name, "waiting", "modificado há menos de 1 minuto (o ERP pode "
                                                 "estar gravando); fica para a próxima vez")
    origin = ImportOrigin(source="folder", user=user, file_name=path.name, data_time=modified,
                          refuse_repeats=True)
    try:
        stream = open(path, "rb")
    except OSError as exc:
        return FileOutcome(path.name, "unreadable", f"não foi possível abrir o arquivo "
                                                    f"({os_reason(exc)}); em uso pelo ERP? "
                                                    f"Fica para a próxima vez")
    try:
        with stream:
            report = import_invoices(session, stream, origin=origin, wait=wait, on_wait=on_wait)
    except Repeated as exc:
        outcome = FileOutcome(path.name, "repeated", str(exc), record_id=exc.record_id)
    except FileRejected as exc:
        outcome = FileOutcome(path.name, "refused", f"recusado ({len(exc.errors)} erro(s))",
                              record_id=getattr(exc, "record_id", None), errors=exc.errors)
        target = _move(session, path, path.parent / REFUSED, outcome)
        _write_errors(target or path.parent / REFUSED / path.name, exc)
        return outcome
    else:
        outcome = FileOutcome(path.name, "accepted", "importado", record_id=report.record_id,
                              report=report)
    _move(session, path, path.parent / IMPORTED / now.strftime("%Y-%m"), outcome)
    return outcome


def _write_errors(refused: Path, exc: FileRejected) -> None:
    """``recusados/NAME.erros.txt``: why the file was refused (UTF-8 with BOM, for Notepad)."""
    lines = [f"Arquivo {refused.name} recusado; nada foi importado. Corrija e exporte de novo.", ""]
    lines += [str(error) for error in exc.errors]
    if exc.truncated:
        lines.append("(mostrando os primeiros 100 erros)")
    try:
        refused.parent.mkdir(parents=True, exist_ok=True)
        refused.with_name(refused.name + ERRORS_SUFFIX).write_text(
            "\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    except OSError:
        pass  # the history keeps the errors too


def _move(session: Session, path: Path, folder: Path, outcome: FileOutcome) -> Path | None:
    """Move the file into ``folder`` under a free name; a failure leaves it (noted, not fatal)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_name(folder, path.name)
        os.replace(path, target)
    except OSError as exc:
        note = (f"Não foi possível mover o arquivo para {folder} ({os_reason(exc)}); ele "
                f"ficou na pasta de importação" + (" e não será importado de novo."
                                                    if outcome.result != "refused" else "."))
        outcome.note = note
        history.add_note(session, outcome.record_id, note)
        return None
    outcome.moved_to = str(target)
    return target


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (2).csv`` and so on when taken: nothing is overwritten."""
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 2
    while target.exists():
        target = folder / f"{stem} ({n}){suffix}"
        n += 1
    return target
