"""Reading the ERP's files (issue 10 items 11 and 18): one encoding that fits every line, no stray
byte-order mark inside a code, and clear words for empty files and spreadsheets renamed .csv.
Through the real CLI and the upload page, on a real SQLite file."""
from __future__ import annotations

import io

import pytest

from dunning.importing import import_invoices
from models import Company, Customer, db
from test_importing import HEADER, ROWS, dump, run, write

RAPIDA = ROWS[0]  # "Transportadora Rápida"


@pytest.fixture
def loaded(session, db_url):
    """Customers already on file, imported from a clean UTF-8 export."""
    import_invoices(session, io.BytesIO(("\n".join([HEADER, *ROWS]) + "\n").encode("utf-8")))
    return dump(db_url)


def _mixed(tmp_path, cp1252_lines: set[int]):
    """A UTF-8 export where the lines numbered in ``cp1252_lines`` were pasted in as ANSI."""
    lines = [HEADER, *ROWS]
    data = b"".join((line.encode("cp1252" if number in cp1252_lines else "utf-8") + b"\r\n")
                    for number, line in enumerate(lines, 1))
    path = tmp_path / "misto.csv"
    path.write_bytes(data)
    return path


def test_a_utf8_file_with_a_few_windows_1252_lines_is_refused_naming_them(
        runner, session, db_url, loaded, tmp_path):
    result = run(runner, _mixed(tmp_path, {3, 5}))

    assert result.exit_code == 1, result.output
    assert "linha 3: linha em Windows-1252 (ANSI) num arquivo cujas outras linhas estão em UTF-8" \
        in result.output
    assert "linha 5: " in result.output and "linha 2:" not in result.output
    assert "RÃ¡pida" not in result.output
    assert dump(db_url) == loaded  # "Rápida" stays "Rápida"


def test_a_plain_windows_1252_file_is_still_read_as_such(runner, session, tmp_path):
    result = run(runner, write(tmp_path, [HEADER, *ROWS], encoding="cp1252"))
    assert result.exit_code == 0, result.output
    session.expire_all()
    names = {c.name for c in session.scalars(db.select(Customer))}
    assert "Transportadora Rápida" in names


def test_a_windows_1252_file_whose_accented_lines_are_ascii_in_utf8_is_cp1252(runner, session,
                                                                              tmp_path):
    """Only ASCII in the UTF-8-looking part: nothing to garble, read as Windows-1252."""
    ascii_rows = [row.replace("Rápida", "Rapida") for row in ROWS]
    path = tmp_path / "quase.csv"
    path.write_bytes(b"\r\n".join([HEADER.encode(), *(r.encode() for r in ascii_rows[:2]),
                                   ROWS[2].encode("cp1252")]) + b"\r\n")
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert "Windows-1252" in result.output


@pytest.mark.parametrize("where", ["line-start", "inside-a-code"])
def test_a_byte_order_mark_inside_the_file_is_refused_naming_its_line(runner, session, db_url,
                                                                     loaded, tmp_path, where):
    second = "\ufeff" + ROWS[3] if where == "line-start" else "2\ufeff" + ROWS[3][1:]
    path = tmp_path / "juntado.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *ROWS[:3], second]) + "\r\n").encode())

    result = run(runner, path)

    assert result.exit_code == 1, result.output
    assert "linha 5: caractere invisível (marca de ordem de bytes, BOM)" in result.output
    assert "linha 1:" not in result.output  # the BOM at the very start is the normal one
    assert dump(db_url) == loaded
    assert session.scalar(db.select(db.func.count()).select_from(Company)) == 2


def test_a_bom_at_the_start_only_is_fine(runner, session, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *ROWS]) + "\r\n").encode())
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert {c.code for c in session.scalars(db.select(Company))} == {"1", "2"}


@pytest.mark.parametrize("content, expected", [
    (b"", "o arquivo está vazio"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml", "planilha do Excel (.xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "planilha do Excel (.xls)"),
], ids=["empty", "xlsx", "xls"])
def test_empty_files_and_spreadsheets_are_explained_without_line_0(content, expected, runner,
                                                                   staff, tmp_path):
    path = tmp_path / "faturas.csv"
    path.write_bytes(content)
    result = run(runner, path)
    assert result.exit_code == 1 and expected in result.output
    assert "linha 0" not in result.output
    if content:
        assert "Salvar como" in result.output
    response = staff.post("/importar/faturas", data={"faturas-file": (io.BytesIO(content), "faturas.csv")},
                          content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert expected in page
    assert '<td class="num">0</td>' not in page


@pytest.mark.parametrize("chunk", [1 << 20, 1, 2, 3, 7], ids=lambda c: f"chunk{c}")
def test_the_verdict_does_not_depend_on_where_the_chunks_end(chunk, monkeypatch):
    import dunning.csvfile
    from dunning.csvfile import FileRejected, detect_encoding
    monkeypatch.setattr(dunning.csvfile, "_CHUNK", chunk)
    utf8 = "a;b\nRápida;1\n".encode()
    assert detect_encoding(io.BytesIO(utf8))[0] == "utf-8-sig"
    assert detect_encoding(io.BytesIO(b"\xef\xbb\xbf" + utf8))[0] == "utf-8-sig"
    assert detect_encoding(io.BytesIO("a;b\nRápida;1\n".encode("cp1252")))[0] == "cp1252"
    with pytest.raises(FileRejected) as mixed:
        detect_encoding(io.BytesIO(utf8 + "José;2\n".encode("cp1252")))
    assert [e.line for e in mixed.value.errors] == [3]
    with pytest.raises(FileRejected) as joined:
        detect_encoding(io.BytesIO(b"\xef\xbb\xbf" + utf8 + b"\xef\xbb\xbfa;b\n"))
    assert [e.line for e in joined.value.errors] == [3]
