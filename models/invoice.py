"""Open items (Fatura / pendência) imported from the ERP."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.party import Account, Company, Customer


class Invoice(db.Model):
    """One installment of an invoice, unique by (empresa, documento, parcela); money in cents."""

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("company_id", "document", "installment"),
        # As few secondary indexes as the pages need: a first import drops and rebuilds them (about
        # 1 s each per million rows). Full, not partial on saldo > 0: the saldo is in the index,
        # so the open-items filter is read from it. None on account_id: nothing filters by it and
        # accounts are never deleted.
        # (vencimento, saldo): the Faturas list's order without a sort; covering for the Painel's
        # open money by vencimento and for the list's counts.
        Index("ix_invoice_due_balance", "due_date", "balance_cents"),
        # (cliente, vencimento, saldo): "has this customer anything overdue" in one probe (the
        # Clientes filter, the Painel's delinquent count); covering for a page's totals. Conta
        # and empresa at the end make it covering for the plan's grouped queries
        # (dunning.plan_reads.due_facts: earliest due date per customer, scope and company).
        Index("ix_invoice_customer_due", "customer_id", "due_date", "balance_cents", "account_id",
              "company_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    document: Mapped[str] = mapped_column(String(60))
    installment: Mapped[str] = mapped_column(String(20), default="")
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    issue_date: Mapped[date | None] = mapped_column(default=None)
    due_date: Mapped[date]
    amount_cents: Mapped[int | None] = mapped_column(default=None)
    balance_cents: Mapped[int] = mapped_column(default=0)
    digitable_line: Mapped[str] = mapped_column(String(80), default="")
    pix_code: Mapped[str] = mapped_column(Text, default="")
    payment_link: Mapped[str] = mapped_column(Text, default="")
    # Set when a later snapshot no longer lists the item (or lists it with saldo 0).
    settled_at: Mapped[datetime | None] = mapped_column(default=None)

    company: Mapped[Company] = relationship()
    customer: Mapped[Customer] = relationship()
    account: Mapped[Account] = relationship()

    @property
    def is_open(self) -> bool:
        """An item is open while something is still owed."""
        return self.balance_cents > 0
