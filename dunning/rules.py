"""Who gets a reminder on a date, and what it lists (SPEC §4): the one home of "what is overdue".

The dry-run, the browser preview and the real send all call ``plan()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from dunning.formatting import cents_to_str

SKIP_REASONS = ("no_email", "invalid_email", "nothing_overdue", "recently_sent")


@dataclass(frozen=True)
class PlannedInvoice:
    """An open item in a reminder's scope, with the rule's verdict."""

    invoice_id: int
    company_code: str
    document: str
    installment: str
    account_code: str
    issue_date: date | None
    due_date: date
    effective_due_date: date
    amount_cents: int | None
    balance_cents: int
    days_late: int
    overdue: bool
    digitable_line: str = ""
    pix_code: str = ""
    payment_link: str = ""

    def to_json(self) -> dict:
        """The invoice as SPEC §6's JSON shows it."""
        return {"empresa": self.company_code, "documento": self.document,
                "parcela": self.installment, "conta": self.account_code,
                "vencimento": self.due_date.isoformat(), "saldo": cents_to_str(self.balance_cents),
                "dias_atraso": self.days_late, "vencido": self.overdue}


@dataclass
class CompanyStatement:
    """The part of a reminder owed to one Empresa (the creditor named in the e-mail)."""

    company_id: int
    company_code: str
    name: str
    tax_id: str
    address: str
    phone: str
    email: str
    invoices: list[PlannedInvoice]          # overdue first (most late first), then the others
    overdue_cents: int = 0
    open_cents: int = 0


@dataclass
class Reminder:
    """One e-mail due to one customer on the run date."""

    customer_id: int
    customer_code: str
    customer_name: str
    tax_id: str
    to: list[str]                            # valid addresses only
    companies: list[CompanyStatement]
    overdue_cents: int = 0
    open_cents: int = 0

    @property
    def invoices(self) -> list[PlannedInvoice]:
        """Every listed invoice, company by company."""
        return [inv for company in self.companies for inv in company.invoices]

    def to_json(self) -> dict:
        """The reminder as SPEC §6's JSON shows it."""
        return {"customer": self.customer_code, "to": list(self.to),
                "invoices": [inv.to_json() for inv in self.invoices]}


@dataclass(frozen=True)
class Skip:
    """An enabled customer that gets nothing on the run date, and why (one of SKIP_REASONS)."""

    customer_id: int
    customer_code: str
    reason: str

    def to_json(self) -> dict:
        return {"customer": self.customer_code, "reason": self.reason}


@dataclass
class Plan:
    """Everything a run on ``as_of`` would send, and every enabled customer it would skip."""

    as_of: date
    reminders: list[Reminder] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def to_json(self) -> dict:
        """SPEC §6's dry-run JSON."""
        return {"date": self.as_of.isoformat(),
                "reminders": [r.to_json() for r in self.reminders],
                "skipped": [s.to_json() for s in self.skipped]}


def plan(session: Session, as_of: date, customer_code: str | None = None) -> Plan:
    """The reminders due on ``as_of`` (optionally for one customer), per SPEC §4 rules 1-8."""
    raise NotImplementedError("implemented by the rules issue")
