"""The retention of `skipped` lines: pruned after the send, never a message's line, never a second
e-mail, in batches, crash-safe; the run keeps its counts per reason; pages, CLI and settings."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from conftest import ON_POSTGRESQL
from dunning.delivery import run
from dunning.importing import import_invoices
from dunning.retention import prune_skipped
from dunning.runcounts import store_counts
from dunning.runlock import acquire
from models import Customer, OutboxLine, Run, RunSkipCount, StationSettings, db
from smtpserver import configure_station
from stations import complete_creditors
from test_delivery import FAST, HEADER

D0 = date(2026, 3, 2)           # in the past: every run below is a real (not future) send
COMPANY = "1;Auto Posto Teste Ltda;11.222.333/0001-81"


def load_station(session) -> None:
    """C01 and C02 overdue with an address; C03 overdue without one (no_email); C04 with nothing
    overdue (nothing_overdue); all enabled."""
    rows = [f"{COMPANY};C01;Cliente 1;c1@cliente.example.com;F1;1;01/02/2026;100,00;;;",
            f"{COMPANY};C02;Cliente 2;c2@cliente.example.com;F2;1;01/02/2026;200,00;;;",
            f"{COMPANY};C03;Cliente 3;;F3;1;01/02/2026;300,00;;;",
            f"{COMPANY};C04;Cliente 4;c4@cliente.example.com;F4;1;01/12/2027;400,00;;;"]
    report = import_invoices(session, io.BytesIO((HEADER + "\n".join(rows) + "\n").encode()))
    assert report.rows == 4
    for customer in session.scalars(select(Customer)):
        customer.send_email = "sim"
    session.commit()
    complete_creditors(session)


@pytest.fixture
def station(app, session, smtp_server):
    load_station(session)
    configure_station(session, smtp_server, app.instance_path)
    return smtp_server


def set_station(session, **values) -> None:
    settings = StationSettings.load(session)
    for name, value in values.items():
        setattr(settings, name, value)
    session.commit()


def lines_of(session, run_id: int) -> list[tuple[str, str, str]]:
    """(customer, status, skip reason) of a run's lines, by customer."""
    session.expire_all()
    return sorted(session.execute(
        select(Customer.code, OutboxLine.status, OutboxLine.skip_reason).join(OutboxLine.customer)
        .where(OutboxLine.run_id == run_id)).all())


def reasons_of(session, run_id: int) -> dict[str, int]:
    return dict(session.execute(select(RunSkipCount.reason, RunSkipCount.count)
                                .where(RunSkipCount.run_id == run_id)).all())


def test_the_daily_run_prunes_old_skips_and_keeps_every_message_line_and_the_counts(
        app, session, station, staff, runner):
    result = runner.invoke(args=["settings", "set", "ignorados_guardar_dias", "30"])
    assert result.exit_code == 0 and "ignorados_guardar_dias = 30" in result.output
    station.script("c2@cliente.example.com", "550 5.1.1 Usuário desconhecido")

    first = run(session, D0, app.instance_path, options=FAST)
    assert (first.sent, first.failed, first.skipped) == (1, 1, 2)
    kept = [("C01", "sent", ""), ("C02", "failed_permanent", "")]
    assert lines_of(session, first.run_id) == sorted(
        kept + [("C03", "skipped", "no_email"), ("C04", "skipped", "nothing_overdue")])
    assert reasons_of(session, first.run_id) == {"no_email": 1, "nothing_overdue": 1}
    assert first.pruned.lines == 0

    second = run(session, D0 + timedelta(days=10), app.instance_path, options=FAST)
    assert (second.pruned.lines, second.sent, second.skipped) == (0, 2, 2)

    # 31 days after D0: D0's skips are past the 30 days, the second run's are not.
    third = run(session, D0 + timedelta(days=31), app.instance_path, options=FAST)
    assert (third.pruned.lines, third.pruned.runs, third.pruned.cutoff) == (
        2, 1, D0 + timedelta(days=1))
    assert lines_of(session, first.run_id) == kept
    assert [s for _, s, _ in lines_of(session, second.run_id)].count("skipped") == 2
    old = session.get(Run, first.run_id)
    assert old.skips_pruned_at is not None and old.skipped_count == 2
    assert (old.sent_count, old.failed_count) == (1, 1)
    assert reasons_of(session, first.run_id) == {"no_email": 1, "nothing_overdue": 1}
    assert session.get(Run, second.run_id).skips_pruned_at is None

    # What staff see: the counts per reason stay, with a word on the pruned list.
    page = staff.get(f"/envios/{first.run_id}").get_data(as_text=True)
    assert "1 enviados, 1 falhas, 2 ignorados" in page
    assert "Ignorados por motivo: sem e-mail cadastrado: 1; nada vencido além da tolerância: 1." \
        in page
    assert f"foi apagada em {date.today():%d/%m/%Y}" in page
    assert "dias depois do envio, pelo prazo de guarda" in page
    page = staff.get(f"/envios/{first.run_id}?situacao=skipped").get_data(as_text=True)
    assert "Nenhuma linha (a lista dos clientes ignorados deste envio foi apagada)." in page
    page = staff.get(f"/envios/{second.run_id}").get_data(as_text=True)
    assert "fica guardada por 30 dias" in page and "foi apagada" not in page
    index = staff.get("/envios/").get_data(as_text=True)
    assert index.count("(lista apagada)") == 1

    c3 = session.scalar(select(Customer.id).where(Customer.code == "C03"))
    page = staff.get(f"/clientes/{c3}").get_data(as_text=True)
    assert (f"sem e-mail cadastrado: 2 envios, de {D0 + timedelta(days=10):%d/%m/%Y} a "
            f"{D0 + timedelta(days=31):%d/%m/%Y}") in page
    assert "ficam registrados por 30 dias" in page
    c1 = session.scalar(select(Customer.id).where(Customer.code == "C01"))
    page = staff.get(f"/clientes/{c1}").get_data(as_text=True)
    history = page.split('id="historico"')[1].split('id="ignorado"')[0]
    assert history.count("Envio nº") == 3 and f"Envio nº {first.run_id}<" in history
    assert "ignorado" not in history


def test_pruning_never_causes_a_second_email(app, session, station):
    """Interval 30 days, retention 1 day: every run prunes the previous ones' skips, and still C01
    gets one message in 30 days, none again on a date already run."""
    set_station(session, resend_interval_days=30, skip_retention_days=1)
    run(session, D0, app.instance_path, options=FAST)
    assert len(station.messages_to("c1@cliente.example.com")) == 1
    pruned = 0
    for day in (1, 2, 3, 5, 8, 13, 21, 29):
        report = run(session, D0 + timedelta(days=day), app.instance_path, options=FAST)
        assert report.sent == 0, day
        pruned += report.pruned.lines
    assert pruned > 0
    # Retention 1: only the skips of the last run, and of the day before (none), remain.
    session.expire_all()
    kept = set(session.scalars(select(OutboxLine.as_of).where(OutboxLine.status == "skipped")))
    assert kept == {D0 + timedelta(days=29)}
    assert len(station.messages_to("c1@cliente.example.com")) == 1

    # A date already run, sent again after its skips were pruned: nothing goes twice.
    again = run(session, D0, app.instance_path, options=FAST)
    assert again.sent == 0
    assert {line.reason for line in again.lines if line.customer in ("C01", "C02")} == {
        "recently_sent"}
    assert len(station.messages_to("c1@cliente.example.com")) == 1

    due = run(session, D0 + timedelta(days=30), app.instance_path, options=FAST)
    assert due.sent == 2
    assert len(station.messages_to("c1@cliente.example.com")) == 2


def test_retention_zero_keeps_every_skip(app, session, station):
    set_station(session, skip_retention_days=0)
    first = run(session, D0, app.instance_path, options=FAST)
    later = run(session, D0 + timedelta(days=400), app.instance_path, options=FAST)
    assert later.pruned.cutoff is None and later.pruned.lines == 0
    assert [s for _, s, _ in lines_of(session, first.run_id)].count("skipped") == 2
    assert session.get(Run, first.run_id).skips_pruned_at is None


def make_run(session, as_of: date, skipped: int, sent: int, status: str = "ok") -> int:
    """A run with ``skipped`` skipped lines (alternating reasons) and ``sent`` sent ones, its
    counts stored as a run stores them when it ends."""
    customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    record = Run(as_of=as_of, started_at=datetime(2026, 1, 1), status="running")
    session.add(record)
    session.flush()
    for n in range(skipped):
        session.add(OutboxLine(run_id=record.id, customer_id=customers[n % len(customers)],
                               as_of=as_of, status="skipped",
                               skip_reason=("no_email", "nothing_overdue")[n % 2]))
    for n in range(sent):
        session.add(OutboxLine(run_id=record.id, customer_id=customers[n], as_of=as_of,
                               status="sent", recipients="x@cliente.example.com"))
    session.flush()
    store_counts(session, [record.id])
    record.status = status
    session.commit()
    return record.id


def skipped_left(session, run_id: int) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(OutboxLine).where(
        OutboxLine.run_id == run_id, OutboxLine.status == "skipped"))


def test_prune_in_batches_resumes_after_a_crash_and_a_time_budget(session):
    load_station(session)  # four customers: batches of 2 lines for one run are 2 customers each
    old = make_run(session, D0, skipped=7, sent=2)  # 2 skipped lines for C01-C03, 1 for C04
    dead = make_run(session, D0, skipped=3, sent=0, status="running")  # killed, not yet settled
    recent = make_run(session, D0 + timedelta(days=80), skipped=3, sent=1)
    as_of = D0 + timedelta(days=100)

    class Crash(Exception):
        pass

    def crash(_) -> None:
        raise Crash

    with pytest.raises(Crash):  # the process dies after its first batch (C01, C02)
        prune_skipped(session, as_of, 90, batch=2, between_batches=crash)
    assert skipped_left(session, old) == 3
    assert session.get(Run, old).skips_pruned_at is None

    # Out of time after one batch: it walked C01-C02 again (nothing left there), not C03-C04.
    ticks = iter([datetime(2026, 6, 1, 3, 0, s) for s in range(60)])
    report = prune_skipped(session, as_of, 90, batch=2, budget=timedelta(seconds=1),
                           clock=lambda: next(ticks))
    assert (report.lines, report.runs, report.finished) == (0, 0, False)
    assert "o restante será apagado nos próximos envios" in report.summary()
    assert skipped_left(session, old) == 3

    calls = []
    report = prune_skipped(session, as_of, 90, batch=2, between_batches=calls.append)
    assert (report.lines, report.runs, report.finished) == (3, 1, True)
    assert calls == [report, report]  # after each of the two batches (C01-C02, C03-C04)
    assert "3 linha(s) de clientes ignorados em envios anteriores a 12/03/2026" in report.summary()
    assert skipped_left(session, old) == 0
    assert [s for s in session.scalars(select(OutboxLine.status).where(
        OutboxLine.run_id == old))] == ["sent", "sent"]
    record = session.get(Run, old)
    assert record.skips_pruned_at is not None
    assert (record.skipped_count, record.sent_count) == (7, 2)
    assert reasons_of(session, old) == {"no_email": 4, "nothing_overdue": 3}
    # A run still marked running keeps its lines (its counts are not stored yet); so does a recent one.
    assert skipped_left(session, dead) == 3 and skipped_left(session, recent) == 3
    assert prune_skipped(session, as_of, 90).lines == 0


@pytest.fixture
def deletes_refused(session):
    """A trigger that makes the database refuse every delete from outbox_line (a real failure)."""
    if ON_POSTGRESQL:
        session.execute(text("CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql "
                             "AS $$ BEGIN RAISE EXCEPTION 'exclusao recusada'; END $$"))
        session.execute(text("CREATE TRIGGER refuse_delete BEFORE DELETE ON outbox_line "
                             "FOR EACH ROW EXECUTE FUNCTION refuse_delete()"))
    else:
        session.execute(text("CREATE TRIGGER refuse_delete BEFORE DELETE ON outbox_line "
                             "BEGIN SELECT RAISE(ABORT, 'exclusao recusada'); END"))
    session.commit()

    def lift() -> None:
        session.rollback()
        session.execute(text("DROP TRIGGER IF EXISTS refuse_delete"
                             + (" ON outbox_line" if ON_POSTGRESQL else "")))
        if ON_POSTGRESQL:
            session.execute(text("DROP FUNCTION IF EXISTS refuse_delete()"))
        session.commit()

    yield lift
    lift()


def test_a_failing_prune_is_a_warning_and_the_next_run_prunes(app, session, station, runner,
                                                               deletes_refused):
    first = run(session, D0, app.instance_path, options=FAST)
    later = D0 + timedelta(days=100)
    report = run(session, later, app.instance_path, options=FAST)
    assert report.status == "ok" and report.sent == 2 and report.exit_code == 0
    assert "A limpeza das linhas de clientes ignorados antigas não foi concluída" in report.message
    assert "exclusao recusada); será tentada de novo no próximo envio." in report.message
    assert "SQL" not in report.message
    session.expire_all()
    assert "não foi concluída" in session.get(Run, report.run_id).message
    assert skipped_left(session, first.run_id) == 2

    deletes_refused()
    result = runner.invoke(args=["email-pendencia-financeira", "--date",
                                 (later + timedelta(days=1)).isoformat()])
    assert result.exit_code == 0, result.output
    assert ("2 linha(s) de clientes ignorados em envios anteriores a "
            f"{later + timedelta(days=1) - timedelta(days=90):%d/%m/%Y} apagada(s) "
            "(guardadas por 90 dias; as contagens de cada envio ficam).") in result.output
    assert skipped_left(session, first.run_id) == 0


def test_prune_skipped_command(app, session, station, runner):
    set_station(session, skip_retention_days=0)  # the runs themselves prune nothing
    first = run(session, date.today() - timedelta(days=120), app.instance_path, options=FAST)
    recent = run(session, date.today() - timedelta(days=10), app.instance_path, options=FAST)

    lease = acquire(session, datetime.now())
    result = runner.invoke(args=["prune-skipped"])
    assert result.exit_code == 2
    assert "Outro envio está em andamento" in result.output and "nada foi apagado" in result.output
    assert skipped_left(session, first.run_id) == 2
    lease.release()

    result = runner.invoke(args=["prune-skipped"])
    assert result.exit_code == 0 and "guardadas para sempre (retenção 0)" in result.output
    assert skipped_left(session, first.run_id) == 2

    set_station(session, skip_retention_days=90)
    result = runner.invoke(args=["prune-skipped"])
    assert result.exit_code == 0, result.output
    assert "2 linha(s) de clientes ignorados em envios anteriores a " in result.output
    assert skipped_left(session, first.run_id) == 0 and skipped_left(session, recent.run_id) == 2
    assert acquire(session, datetime.now())  # the command let go of the run lock


@pytest.mark.parametrize("value", ["abc", "-1", "3651", "1.5", ""])
def test_retention_setting_refuses_bad_values(runner, session, value):
    result = runner.invoke(args=["settings", "set", "ignorados_guardar_dias", value])
    assert result.exit_code == 1
    assert (f"Guardar os clientes ignorados por: valor inválido '{value}'; use um número inteiro "
            "de 0 a 3650.") in result.output and "Nada foi alterado." in result.output
    assert StationSettings.load(session).skip_retention_days == 90


def test_retention_setting_in_the_list_and_the_form(runner, staff, session):
    listing = runner.invoke(args=["settings"]).output
    assert "ignorados_guardar_dias" in listing and "[0 a 3650; 0 = para sempre]" in listing
    page = staff.get("/configuracoes/").get_data(as_text=True)
    assert "Guardar a lista dos clientes ignorados por (dias)" in page and 'value="90"' in page

    bad = staff.post("/configuracoes/historico", data={"ignorados_guardar_dias": "noventa"})
    assert bad.status_code == 400
    assert "valor inválido &#39;noventa&#39;" in bad.get_data(as_text=True)
    session.expire_all()
    assert StationSettings.load(session).skip_retention_days == 90

    good = staff.post("/configuracoes/historico", data={"ignorados_guardar_dias": "0"})
    assert good.status_code == 302
    session.expire_all()
    assert StationSettings.load(session).skip_retention_days == 0
    assert re.search(r"^ignorados_guardar_dias +0 +# ", runner.invoke(args=["settings"]).output,
                     re.MULTILINE)


def test_migration_keeps_the_counts_per_reason_of_the_runs_recorded_before(app, session):
    load_station(session)
    customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    session.commit()
    with app.app_context():
        downgrade(revision="0008_smtp_oauth")  # the revision before retention
        db.session.remove()
        with db.engine.begin() as conn:
            assert "skips_pruned_at" not in [c for c in conn.execute(
                select(text("*")).select_from(text("run")).limit(0)).keys()]
            conn.execute(text(
                "INSERT INTO run (id, as_of, started_at, status, \"trigger\", message, sent_count, "
                "failed_count, skipped_count) VALUES (1, '2026-03-02', '2026-03-02 06:00:00', 'ok', "
                "'scheduler', '', 1, 0, 3)"))
            for n, (status, reason) in enumerate([("sent", ""), ("skipped", "no_email"),
                                                   ("skipped", "nothing_overdue"),
                                                   ("skipped", "nothing_overdue")]):
                conn.execute(text(
                    "INSERT INTO outbox_line (run_id, customer_id, as_of, status, skip_reason, "
                    "recipients, subject, message_id, attempts, smtp_reply, message) VALUES "
                    "(1, :customer, '2026-03-02', :status, :reason, '', '', '', 0, '', '')"),
                    {"customer": customers[n], "status": status, "reason": reason})
        upgrade()
    session.expire_all()
    assert reasons_of(session, 1) == {"no_email": 1, "nothing_overdue": 2}
    assert session.get(Run, 1).skips_pruned_at is None
    assert StationSettings.load(session).skip_retention_days == 90
