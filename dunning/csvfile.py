"""Reading the ERP's CSV exports: encoding and delimiter detection, header matching.

Shared by the invoice import and the policies import, from the CLI and from uploads alike.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import shutil
import tempfile
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO, Iterator

from dunning.text import fold
from dunning.typed_input import shown

_CHUNK = 1 << 20
_HEAD = 1 << 16
MAX_LISTED = 100  # errors named in a refusal


@dataclass(frozen=True)
class RowError:
    """One problem in an input file, named the way staff can find it in a spreadsheet."""

    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        where = ", ".join(([f"linha {self.line}"] if self.line else [])
                          + ([f"coluna {shown(self.column)}"] if self.column else []))
        value = f" '{shown(self.value)}'" if self.value else ""
        return f"{where}: {self.message}{value}" if where else f"{self.message}{value}"


class FileRejected(Exception):
    """The file was refused as a whole; nothing was written. ``errors`` holds up to 100 reasons."""

    def __init__(self, errors: list[RowError], truncated: bool = False):
        super().__init__(f"{len(errors)} erro(s)")
        self.errors = errors
        self.truncated = truncated


def normalize_header(name: str) -> str:
    """Header key ignoring case, accents, spaces, ``_``, ``-`` and ``.``: "Dt_Vencimento" -> "dtvencimento"."""
    return "".join(c for c in fold(name.strip()) if c not in " _-.\t\ufeff")


def _seekable(stream: BinaryIO) -> BinaryIO:
    """The stream itself when it can be read twice, else a temporary copy of it."""
    try:
        stream.seek(0)
        return stream
    except (AttributeError, OSError, io.UnsupportedOperation):
        copy = tempfile.TemporaryFile()
        shutil.copyfileobj(stream, copy)
        copy.seek(0)
        return copy


_BOM = codecs.BOM_UTF8
# Spreadsheets saved with a .csv name: (signature, what it is).
_SPREADSHEETS = ((b"PK\x03\x04", "uma planilha do Excel (.xlsx)"),
                 (b"\xd0\xcf\x11\xe0", "uma planilha do Excel (.xls)"))
SAVE_AS_CSV = ("no Excel, abra a planilha e use Arquivo > Salvar como > \"CSV (separado por "
               "vírgulas)\" ou \"CSV UTF-8\", e importe o arquivo .csv salvo")


def detect_encoding(stream: BinaryIO, digest=None) -> tuple[str, bool]:
    """The one encoding every line of the file fits, and whether the file has any ``"``.

    ``utf-8-sig`` when the whole file is valid UTF-8; ``cp1252`` when it is not and no line reads
    as UTF-8 with accents either (a plain Windows-1252 export). A file with both kinds of line
    (UTF-8 names plus a few Windows-1252 lines pasted in) fits neither: reading it as
    Windows-1252 would turn every "Rápida" into "RÃ¡pida", so it is refused, naming the lines
    that are not UTF-8. A byte-order mark anywhere but at the very start (two files joined) is
    refused, naming its line: it would otherwise become an invisible part of a code. Empty,
    binary files and spreadsheets renamed to .csv are refused with what to do. Reads the file
    in chunks (a second, line by line pass only for a file refused here), so memory does not
    grow with its size. Feeds ``digest`` (a hashlib object) on the way: the import history's
    SHA-256 costs no second reading.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lenient = None         # once the file proved not UTF-8: a decoder that drops invalid bytes
    utf8 = True
    empty = True
    quoted = False
    multibyte = False      # some valid UTF-8 sequence beyond ASCII
    stray_bom = False
    tail = b""
    offset = 0
    first = True
    while chunk := stream.read(_CHUNK):
        if first:
            _refuse_binary(chunk)
        if digest is not None:
            digest.update(chunk)
        quoted = quoted or b'"' in chunk
        empty = empty and not chunk.strip()
        if b"\x00" in chunk:
            raise FileRejected([RowError(0, "", "", "o arquivo não é um CSV de texto (contém bytes nulos)")])
        # A BOM anywhere but at offset 0 of the file (also one split between two chunks); its
        # first byte is rare in either encoding, and a one-byte search is a fast memchr.
        if not stray_bom and (b"\xef" in chunk or b"\xef" in tail):
            across = (tail + chunk[:2]).find(_BOM)
            stray_bom = (chunk.find(_BOM, 1 if first else 0) != -1
                         or (across != -1 and offset - len(tail) + across > 0))
        if utf8:
            try:
                multibyte = not decoder.decode(chunk).isascii() or multibyte
            except UnicodeDecodeError:
                utf8 = False
                lenient = codecs.getincrementaldecoder("utf-8")("ignore")
        if lenient is not None and not multibyte:
            # What survives dropping the invalid bytes is ASCII unless a valid sequence was there.
            multibyte = not lenient.decode(chunk).isascii()
        tail = (tail + chunk[-2:])[-2:]
        offset += len(chunk)
        first = False
    if empty:
        raise FileRejected([RowError(0, "", "", "o arquivo está vazio (nenhuma linha); exporte "
                                                "de novo do sistema da estação")])
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if stray_bom or (multibyte and not utf8):
        stream.seek(0)
        _refuse_lines(stream, stray_bom)
    stream.seek(0)
    return ("utf-8-sig" if utf8 else "cp1252"), quoted


def _refuse_binary(start: bytes) -> None:
    for signature, what in _SPREADSHEETS:
        if start.startswith(signature):
            raise FileRejected([RowError(0, "", "", f"o arquivo é {what}, não um CSV: "
                                                    f"{SAVE_AS_CSV}")])


def _refuse_lines(stream: BinaryIO, stray_bom: bool) -> None:
    """Raise FileRejected naming the lines with a stray byte-order mark, or else those that are
    not UTF-8 in a file whose other lines are."""
    errors: list[RowError] = []
    total = 0
    for number, raw in enumerate(stream, 1):
        if stray_bom:
            bad = _BOM in (raw[len(_BOM):] if number == 1 and raw.startswith(_BOM) else raw)
            message = ("caractere invisível (marca de ordem de bytes, BOM) no meio do arquivo, "
                       "onde ele viraria parte de um código; provavelmente dois arquivos foram "
                       "juntados: apague esse caractere (ou salve o arquivo de novo) e importe")
        else:
            try:
                raw.decode("utf-8")
                bad = False
            except UnicodeDecodeError:
                bad = True
            message = ("linha em Windows-1252 (ANSI) num arquivo cujas outras linhas estão em "
                       "UTF-8: o arquivo mistura codificações e lê-lo numa só trocaria os acentos "
                       "dos nomes; salve o arquivo inteiro como UTF-8 (ou exporte de novo) e "
                       "importe")
        if bad:
            total += 1
            if len(errors) < MAX_LISTED:
                errors.append(RowError(number, "", "", message))
    if errors:
        raise FileRejected(errors, truncated=total > len(errors))


MAX_HEADER = 100_000  # characters of the header line (a real one has a few hundred)


def _csv_reason(exc: csv.Error) -> str:
    """The csv module's complaint, in Portuguese where we know it."""
    if "field limit" in str(exc):
        return ("um campo passa de 128 mil caracteres; confira se alguma aspa ficou sem fechar")
    return str(exc)


def _detect_delimiter(header_line: str) -> str:
    """``;`` or ``,``, whichever the header row uses more (outside quotes)."""
    counts = {";": 0, ",": 0}
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] >= counts[","] and counts[";"] else ","


class CsvSource:
    """A decoded CSV file: its header cells, the delimiter, and an iterator of (line, cells)."""

    def __init__(self, stream: BinaryIO, encoding: str | None = None, quoted: bool = True):
        """Open ``stream`` (binary) after detecting its encoding and delimiter.

        ``encoding`` and ``quoted`` (whether the file has any ``"``) skip the detection when
        known already.
        """
        self.binary = _seekable(stream)
        self.encoding, self.quoted = encoding, quoted
        self.sha256 = ""  # of the whole file, when this detected the encoding
        if encoding is None:
            digest = hashlib.sha256()
            self.encoding, self.quoted = detect_encoding(self.binary, digest)
            self.sha256 = digest.hexdigest()
        self.binary.seek(0, io.SEEK_END)
        self.size = self.binary.tell()
        self.binary.seek(0)
        head = self.binary.read(_HEAD)
        self.binary.seek(0)
        # Rows, as the first lines suggest (enough to tell a first load from a daily one).
        self.estimated_rows = self.size * max(head.count(b"\n") - 1, 0) // max(len(head), 1)
        self.text = io.TextIOWrapper(self.binary, encoding=self.encoding, newline="",
                                     errors="strict")
        try:
            first = self.text.readline()
        except UnicodeDecodeError:
            raise FileRejected([RowError(1, "", "", "o arquivo não é texto UTF-8 nem Windows-1252")])
        if len(first) > MAX_HEADER:
            raise FileRejected([RowError(1, "", "", f"o cabeçalho (primeira linha) tem "
                                         f"{len(first):,} caracteres; confira se o arquivo é o CSV "
                                         f"exportado do sistema".replace(",", "."))])
        self.delimiter = _detect_delimiter(first)
        try:
            self.header = next(csv.reader([first], delimiter=self.delimiter), [])
        except csv.Error as exc:
            raise FileRejected([RowError(1, "", "", f"CSV malformado no cabeçalho: {_csv_reason(exc)}")])
        self.header = [cell.strip() for cell in self.header]

    def rewind(self) -> None:
        """Start the rows over (the header is read again)."""
        self.text.detach()  # keeps the binary stream open
        self.binary.seek(0)
        self.text = io.TextIOWrapper(self.binary, encoding=self.encoding, newline="",
                                     errors="strict")
        self.text.readline()

    def position(self) -> int:
        """Bytes consumed so far (approximate, for progress bars)."""
        return self.binary.tell()

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows with the line number where each starts; blank rows are skipped."""
        if not self.quoted:
            return self._plain_rows()
        return self._csv_rows()

    def _plain_rows(self) -> Iterator[tuple[int, list[str]]]:
        for chunk in self._plain_chunks(1000):
            yield from chunk

    def chunks(self, size: int) -> Iterator[list[tuple[int, list[str]]]]:
        """``rows`` in lists of ``size`` (the last may be shorter)."""
        if not self.quoted:
            return self._plain_chunks(size)
        rows = self._csv_rows()
        return iter(lambda: list(islice(rows, size)), [])

    def _plain_chunks(self, size: int) -> Iterator[list[tuple[int, list[str]]]]:
        """``_csv_rows`` for a file without quotes, where every line is a row and the csv module
        would only split it at the delimiter: a plain split, three times faster."""
        delimiter = self.delimiter
        lines = enumerate(self.text, 2)
        line = 1
        try:
            while chunk := list(islice(lines, size)):
                line = chunk[-1][0]
                yield [(number, cells) for number, text in chunk
                       if (cells := text.rstrip("\r\n").split(delimiter))[0].strip()
                       or "".join(cells).strip()]
        except UnicodeDecodeError:
            raise FileRejected([RowError(line + 1, "", "", "o arquivo não é texto UTF-8 nem Windows-1252")])

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(self.text, delimiter=self.delimiter)
        line = 2
        try:
            for cells in reader:
                if cells and (cells[0].strip() or "".join(cells).strip()):
                    yield line, cells
                line = reader.line_num + 2
        except UnicodeDecodeError:
            raise FileRejected([RowError(line, "", "", "o arquivo não é texto UTF-8 nem Windows-1252")])
        except csv.Error as exc:
            raise FileRejected([RowError(line, "", "", f"CSV malformado: {_csv_reason(exc)}")])

    def map_columns(self, aliases: dict[str, tuple[str, ...]],
                    required: tuple[str, ...]) -> tuple[dict[str, int], list[RowError], list[str]]:
        """Match header cells to canonical fields: (field -> index, errors, unknown headers)."""
        lookup = {normalize_header(a): field for field, names in aliases.items()
                  for a in (field, *names)}
        index: dict[str, int] = {}
        errors: list[RowError] = []
        unknown: list[str] = []
        for i, cell in enumerate(self.header):
            field = lookup.get(normalize_header(cell))
            if field is None:
                if cell:
                    unknown.append(cell)
            elif field in index:
                errors.append(RowError(1, cell, "", f"coluna repetida (já existe '{self.header[index[field]]}')"))
            else:
                index[field] = i
        for field in required:
            if field not in index:
                errors.append(RowError(1, field, "", "coluna obrigatória ausente no cabeçalho"))
        return index, errors, unknown
