"""CPF/CNPJ as spreadsheets leave them: leading zeros put back on import (with a warning), and
the customer search by the whole number, with or without punctuation, alphanumeric included."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from dunning.importing import import_invoices
from dunning.queries import customers_query
from dunning.taxid import zero_padded
from models import Company, Customer


@pytest.mark.parametrize("value, padded", [
    ("123456797", "00123456797"),          # CPF that lost two zeros
    ("1234567890", "01234567890"),         # CPF that lost one
    ("4252011000110", "04252011000110"),   # CNPJ that lost one
    ("252011000110", None),                # 12 digits that are no CNPJ once padded
    ("1234567891", None),                  # 10 digits, no valid CPF padded
    ("00123456797", None),                 # complete already
    ("12ABC34501DE", None),                # not digits
    ("12345678", None),                    # too short to be a CPF missing zeros
])
def test_zero_padding_rule(value, padded):
    assert zero_padded(value) == padded


HEADER = "empresa;empresa_cnpj;cliente;nome;cpf_cnpj;email;documento;vencimento;saldo\n"


@pytest.mark.parametrize("rows", [1, 300], ids=["row-path", "column-path"])
def test_import_pads_and_warns(session, rows):
    lines = ["1;4252011000110;C1;Cliente Um;123456797;c1@x.com.br;F0;01/10/2026;1.234,56\n",
             "1;4252011000110;C2;Cliente Dois;1234567891;c2@x.com.br;G0;01/10/2026;10,00\n"]
    # Many rows of the usual shape take the column-wise path; one row takes the row path.
    extra = [f"1;4252011000110;C1;Cliente Um;123456797;c1@x.com.br;F{n};01/10/2026;1.234,56\n"
             for n in range(1, rows)]
    report = import_invoices(session, io.BytesIO((HEADER + "".join(lines + extra)).encode()))
    customers = {c.code: c.tax_id for c in session.scalars(select(Customer))}
    assert customers == {"C1": "00123456797", "C2": "1234567891"}
    assert session.scalar(select(Company.tax_id)) == "04252011000110"
    warnings = [str(w) for w in report.warnings]
    assert any("123456797" in w and "gravado como 00123456797" in w and "cpf_cnpj" in w
               for w in warnings), warnings
    assert any("gravado como 04252011000110" in w and "empresa_cnpj" in w for w in warnings)
    assert any("1234567891" in w and "dígitos verificadores inválidos" in w for w in warnings)
    assert sum("sem os zeros" in w for w in warnings) == 2        # once per value


def search(session, text: str) -> list[str]:
    return [c.code for c in session.scalars(customers_query(text))]


def test_search_by_whole_tax_id_with_or_without_punctuation(session):
    session.add_all([Customer(code="A1", name="Alfa", tax_id="12.ABC.345/01DE-35"),
                     Customer(code="B1", name="Beta", tax_id="345.678.901-23"),
                     Customer(code="C1", name="Gama", tax_id="00123456797"),
                     Customer(code="D1", name="Delta", tax_id="04.252.011/0001-10")])
    session.commit()
    assert search(session, "12ABC34501DE35") == ["A1"]
    assert search(session, "12.abc.345/01de-35") == ["A1"]
    assert search(session, "ABC345") == ["A1"]              # not Beta by "345" alone
    assert search(session, "345") == ["A1", "B1", "C1"]     # plain digits: a part of the number
    assert search(session, "001.234.567-97") == ["C1"]
    assert search(session, "04252011000110") == ["D1"]
    assert search(session, "04.252.011/0001-10") == ["D1"]
    assert search(session, "Gama") == ["C1"]
