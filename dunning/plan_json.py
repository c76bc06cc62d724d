"""The dry-run JSON of a plan (SPEC §6, §9) as text, written directly: what ``--json`` prints.

The text is exactly ``json.dumps(plan.to_json(), ensure_ascii=False)`` (tests/test_plan_json.py
compares them on generated plans), but at a chain's size (444,000 listed invoices, 85 MB) building
a dict per invoice and walking them again in the encoder costs five times as much as writing each
invoice's text at once: the strings go through the encoder's own escaping function, and what
repeats (company and account codes, due dates) is encoded once.
"""
from __future__ import annotations

from collections.abc import Iterator
from json import dumps
from json.encoder import encode_basestring  # the escaping json.dumps(ensure_ascii=False) uses

from dunning.bulk import gc_paused
from dunning.formatting import cents_to_str


def plan_json_text(plan) -> str:
    """``plan`` (a dunning.rules.Plan) as the dry-run's JSON text."""
    with gc_paused():  # a million small strings: the collector would walk them over and over
        return "".join(plan_json_parts(plan))


def plan_json_parts(plan, batch: int = 1_000) -> Iterator[str]:
    """``plan_json_text(plan)`` in consecutive pieces, ``batch`` reminders at most in each: what
    the dry-run prints as it goes, so that the 85 MB of a chain's plan are never held at once."""
    writer = _Writer()
    yield f'{{"date": "{plan.as_of.isoformat()}", "reminders": ['
    reminders = plan.reminders
    for start in range(0, len(reminders), batch):
        yield (", " if start else "") + ", ".join(
            writer.reminder(r) for r in reminders[start:start + batch])
    yield '], "skipped": ['
    yield ", ".join(f'{{"customer": {encode_basestring(s.customer_code)}, '
                    f'"reason": {encode_basestring(s.reason)}}}' for s in plan.skipped)
    yield "]"
    if plan.held:  # as Plan.to_json: only when something was held back
        yield ', "held": ' + dumps([h.to_json() for h in plan.held], ensure_ascii=False)
    yield "}"


class _Writer:
    def __init__(self):
        self.codes: dict[str, str] = {}     # company / account code -> its JSON string
        self.dates: dict = {}               # date -> '"2026-11-28"'

    def reminder(self, reminder) -> str:
        to = ", ".join(encode_basestring(address) for address in reminder.to)
        return (f'{{"customer": {encode_basestring(reminder.customer_code)}, "to": [{to}], '
                f'"kind": {encode_basestring(reminder.kind)}, '
                f'"level": {encode_basestring(reminder.level_name)}, '
                f'"invoices": [{", ".join(self.invoices(reminder))}]}}')

    def invoices(self, reminder) -> list[str]:
        """Each listed invoice as PlannedInvoice.to_json writes it: its keys, in its order."""
        codes, dates, code_of, date_of, out = self.codes, self.dates, self.code, self.date, []
        for company in reminder.companies:
            empresa = codes.get(company.company_code) or code_of(company.company_code)
            for inv in company.invoices:
                due, effective, updated = inv.due_date, inv.effective_due_date, inv.updated_cents
                text = (f'{{"empresa": {empresa}, "documento": {encode_basestring(inv.document)}, '
                        f'"parcela": {codes.get(inv.installment) or code_of(inv.installment)}, '
                        f'"conta": {codes.get(inv.account_code) or code_of(inv.account_code)}, '
                        f'"vencimento": {dates.get(due) or date_of(due)}, '
                        f'"saldo": "{cents_to_str(inv.balance_cents)}", '
                        f'"dias_atraso": {inv.days_late}, '
                        f'"vencido": {"true" if inv.overdue else "false"}')
                if effective != due:
                    text += f', "vencimento_efetivo": {dates.get(effective) or date_of(effective)}'
                if updated is not None:
                    text += f', "saldo_atualizado": "{cents_to_str(updated)}"'
                out.append(text + "}")
        return out

    def code(self, code: str) -> str:
        known = self.codes[code] = encode_basestring(code)
        return known

    def date(self, day) -> str:
        known = self.dates[day] = f'"{day.isoformat()}"'
        return known
