"""The dunning-settings CSV (SPEC §5, last paragraph): round trip, all or nothing, formula cells."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, select, update

from dunning.csvfile import FileRejected
from dunning.policies import export_policies, import_policies
from models import (BillingAccount, Customer, CustomerAccountRule, CustomerGroup, GroupAccountRule,
                    db)
from test_rules import build, wipe

HEADER = "tipo;codigo;empresa;conta;enviar_email;dias_tolerancia\n"


def station(session) -> None:
    """Customers and groups with every kind of setting, some with formula-looking codes."""
    build(session,
          groups=[dict(code="G1", send=True, tol=3, entries=[("1", "7", True), ("2", "", False)]),
                  dict(code="=G2"), dict(code="G3")],
          customers=[dict(code="C1", send="sim", tol=0, group="G1", entries=[("1", "7", False)],
                          billing=[("2", ""), ("1", "8")]),
                     dict(code="-C2", send="nao"),
                     dict(code="C3", entries=[("@1", "+9", True)]),
                     dict(code="C4"),
                     dict(code="C5", tol=12)],
          invoices=[("C4", "1", "9", "F1", "2026-10-01", 100)])


def dump(session) -> dict:
    """Every dunning setting in the database, comparable before and after."""
    session.expire_all()
    return {
        "customers": session.execute(select(Customer.code, Customer.send_email, Customer.tolerance_days)
                                     .order_by(Customer.code)).all(),
        "groups": session.execute(select(CustomerGroup.code, CustomerGroup.send_email,
                                         CustomerGroup.tolerance_days).order_by(CustomerGroup.code)).all(),
        "customer_entries": sorted(session.execute(select(
            CustomerAccountRule.customer_id, CustomerAccountRule.account_id, CustomerAccountRule.send_email)).all()),
        "group_entries": sorted(session.execute(select(
            GroupAccountRule.group_id, GroupAccountRule.account_id, GroupAccountRule.send_email)).all()),
        "billing": sorted(session.execute(select(BillingAccount.customer_id, BillingAccount.account_id)).all()),
    }


def load(session, text: str):
    return import_policies(session, io.BytesIO(text.encode("utf-8")))


EXPECTED_EXPORT = HEADER + (
    "cliente;'-C2;;;nao;\n"
    "cliente;C1;;;sim;0\n"
    "cliente_conta;C1;1;7;nao;\n"
    "cliente_faturamento;C1;1;8;;\n"
    "cliente_faturamento;C1;2;;;\n"
    "cliente;C3;;;herdar;\n"
    "cliente_conta;C3;'@1;'+9;sim;\n"
    "cliente;C5;;;herdar;12\n"
    "grupo;G1;;;sim;3\n"
    "grupo_conta;G1;1;7;sim;\n"
    "grupo_conta;G1;2;;nao;\n")


def test_export_lists_non_default_settings_in_a_stable_order(session):
    station(session)
    assert export_policies(session) == EXPECTED_EXPORT


def test_export_then_import_gives_the_same_file_and_settings(session):
    station(session)
    before = dump(session)
    text = export_policies(session)
    report = load(session, text)
    assert (report.rows, report.customers, report.groups) == (11, 4, 1)
    assert dump(session) == before
    assert export_policies(session) == text


def test_import_restores_an_export_onto_changed_settings(session):
    station(session)
    text = export_policies(session)
    before = dump(session)
    session.execute(update(Customer).values(send_email="sim", tolerance_days=30))
    session.execute(update(CustomerGroup).values(send_email=False, tolerance_days=None))
    for model in (CustomerAccountRule, GroupAccountRule, BillingAccount):
        session.execute(delete(model))
    session.commit()
    changed = dump(session)
    load(session, text)
    after = dump(session)
    assert after == {**before, "customers": [
        row if row[0] != "C4" else ("C4", "sim", 30) for row in before["customers"]]}
    assert changed != after


def test_import_replaces_everything_of_the_named_only(session):
    station(session)
    load(session, HEADER + "cliente_conta;C1;1;9;sim;\ngrupo;G3;;;sim;\ncliente;C4;;;Não;2\n")
    after = dump(session)
    customers = {code: (switch, tol) for code, switch, tol in after["customers"]}
    assert customers["C1"] == ("herdar", None)          # named by an account row: the rest defaults
    assert customers["C4"] == ("nao", 2)
    assert customers["C5"] == ("herdar", 12)            # not named: untouched
    c1 = session.scalar(select(Customer).where(Customer.code == "C1"))
    assert [(r.account.company.code, r.account.code, r.send_email) for r in c1.account_rules] == [("1", "9", True)]
    assert c1.billing_accounts == []
    groups = {code: (switch, tol) for code, switch, tol in after["groups"]}
    assert groups["G3"] == (True, None) and groups["G1"] == (True, 3)


def test_neutralised_cells_come_back_as_typed(session):
    station(session)
    text = export_policies(session)
    assert "'=" not in text.split("\n")[0]
    assert ";'-C2;" in text and ";'@1;'+9;" in text
    load(session, HEADER + "grupo;'=G2;;;sim;1\n")
    assert session.scalar(select(CustomerGroup.send_email).where(CustomerGroup.code == "=G2")) is True
    assert "grupo;'=G2;;;sim;1\n" in export_policies(session)


def test_a_quote_before_a_formula_sign_round_trips(session):
    build(session, customers=[dict(code="'=C", send="sim")])
    text = export_policies(session)
    assert "cliente;''=C;;;sim;\n" in text
    load(session, text)
    assert export_policies(session) == text


REJECTIONS = [
    ("cliente;C9;;;sim;\n", "linha 2, coluna codigo: cliente não cadastrado 'C9'"),
    ("grupo;G9;;;sim;\n", "linha 2, coluna codigo: grupo não cadastrado 'G9'"),
    ("cliente_conta;C1;9;7;sim;\n", "linha 2, coluna empresa: empresa não cadastrada '9'"),
    ("cliente_faturamento;C1;1;99;;\n", "linha 2, coluna conta: conta não cadastrada na empresa 1 '99'"),
    ("grupo_conta;G1;;7;sim;\n", "linha 2, coluna empresa: campo obrigatório vazio"),
    ("cliente;C1;;;talvez;\n", "linha 2, coluna enviar_email: valor inválido (use herdar, sim, nao) 'talvez'"),
    ("grupo;G1;;;herdar;\n", "linha 2, coluna enviar_email: valor inválido (use sim, nao) 'herdar'"),
    ("cliente_conta;C1;1;7;;\n", "linha 2, coluna enviar_email: valor inválido (use sim, nao)"),
    ("cliente;C1;;;sim;-1\n", "linha 2, coluna dias_tolerancia: não pode ser negativo '-1'"),
    ("cliente;C1;;;sim;1,5\n", "linha 2, coluna dias_tolerancia: use um número inteiro de dias (ou deixe vazio) '1,5'"),
    ("grupo;G1;;;sim;dez\n", "linha 2, coluna dias_tolerancia: use um número inteiro de dias (ou deixe vazio) 'dez'"),
    ("cliente_conta;C1;1;7;sim;3\n", "linha 2, coluna dias_tolerancia: deve ficar vazio em linhas do tipo cliente_conta '3'"),
    ("cliente;C1;1;;sim;\n", "linha 2, coluna empresa: deve ficar vazio em linhas do tipo cliente '1'"),
    ("fornecedor;C1;;;sim;\n", "linha 2, coluna tipo: tipo inválido"),
    ("cliente;;;;sim;\n", "linha 2, coluna codigo: campo obrigatório vazio"),
    ("cliente;C1;;;sim;\ncliente;C1;;;nao;\n", "linha 3, coluna codigo: configuração repetida (já aparece na linha 2) 'C1'"),
    ("cliente;C1;;;sim;\ncliente;C4;;;sim;\ncliente;C5;;;x;\n", "linha 4, coluna enviar_email"),
]


@pytest.mark.parametrize("rows, message", REJECTIONS, ids=[r[1][:60] for r in REJECTIONS])
def test_rejections_name_line_column_value_and_change_nothing(session, rows, message):
    station(session)
    before = dump(session)
    with pytest.raises(FileRejected) as info:
        load(session, HEADER + rows)
    assert any(message in str(error) for error in info.value.errors), [str(e) for e in info.value.errors]
    assert dump(session) == before


@pytest.mark.parametrize("header, message", [
    ("tipo;codigo;empresa;conta;enviar_email\n", "coluna dias_tolerancia: coluna obrigatória ausente"),
    (HEADER.rstrip("\n") + ";observacao\n", "coluna observacao: coluna desconhecida"),
])
def test_bad_header_is_rejected(session, header, message):
    station(session)
    before = dump(session)
    with pytest.raises(FileRejected) as info:
        load(session, header + "cliente;C1;;;sim;\n")
    assert any(message in str(error) for error in info.value.errors)
    assert dump(session) == before


def test_cli_export_and_import(runner, app, tmp_path):
    with app.app_context():
        station(db.session)
    shown = runner.invoke(args=["export-policies"])
    assert shown.exit_code == 0 and shown.output == EXPECTED_EXPORT
    target = tmp_path / "politicas.csv"
    assert runner.invoke(args=["export-policies", str(target)]).exit_code == 0
    assert target.read_bytes() == EXPECTED_EXPORT.encode("utf-8")
    done = runner.invoke(args=["import-policies", str(target)])
    assert done.exit_code == 0, done.output
    assert "11 linhas; 4 clientes e 1 grupo atualizados." in done.output
    bad = tmp_path / "ruim.csv"
    bad.write_text(HEADER + "cliente;C9;;;sim;\n", encoding="utf-8")
    refused = runner.invoke(args=["import-policies", str(bad)])
    assert refused.exit_code == 1
    assert "linha 2, coluna codigo: cliente não cadastrado 'C9'" in refused.output
    missing = runner.invoke(args=["import-policies", str(tmp_path / "nao-existe.csv")])
    assert missing.exit_code == 1 and "arquivo não encontrado" in missing.output


codes = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"))
                | st.sampled_from("=+-@';\""), min_size=1, max_size=8).map(str.strip).filter(bool)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customer_codes=st.lists(codes, min_size=1, max_size=4, unique=True),
       group_code=codes, conta=codes,
       switches=st.lists(st.sampled_from(["herdar", "sim", "nao"]), min_size=4, max_size=4))
def test_round_trip_with_any_codes(session, customer_codes, group_code, conta, switches):
    wipe(session)
    build(session, groups=[dict(code=group_code, send=True, entries=[("=1", conta, True)])],
          customers=[dict(code=code, send=switch, tol=n, entries=[("=1", conta, n % 2 == 0)])
                     for n, (code, switch) in enumerate(zip(customer_codes, switches))])
    text = export_policies(session)
    before = dump(session)
    load(session, text)
    assert dump(session) == before
    assert export_policies(session) == text
