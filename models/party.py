"""Companies (Empresa), their accounts (Conta), customers (Cliente) and groups (Grupo de Pessoas)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from dunning.text import fold

from models import db


class SendEmail(str, enum.Enum):
    """A customer's "Enviar e-mail sobre atraso de pendências financeiras" switch."""

    INHERIT = "herdar"
    YES = "sim"
    NO = "nao"


class Company(db.Model):
    """An Empresa (branch) as the ERP codes it; its address is set in the browser (CDC art. 42-A)."""

    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    tax_id: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    # The data time of the last accepted invoice import that contained this company (None: no
    # recorded import ever did); the run holds back companies whose data is too old.
    data_time: Mapped[datetime | None] = mapped_column(default=None)

    accounts: Mapped[list[Account]] = relationship(back_populates="company", order_by="Account.code")

    @property
    def display_name(self) -> str:
        """The name staff and customers read, falling back to the ERP code."""
        return self.name or f"Empresa {self.code}"


class Account(db.Model):
    """A Conta within an Empresa; invoices are charged to (empresa, conta). Code '' = no account."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("company_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(200), default="")

    company: Mapped[Company] = relationship(back_populates="accounts")


class CustomerGroup(db.Model):
    """A Grupo de Pessoas; its "Vencimentos" tab settings apply to every customer in it."""

    __tablename__ = "customer_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    send_email: Mapped[bool] = mapped_column(default=False)
    tolerance_days: Mapped[int | None] = mapped_column(default=None)

    customers: Mapped[list[Customer]] = relationship(back_populates="group")
    account_rules: Mapped[list["GroupAccountRule"]] = relationship(  # noqa: F821
        back_populates="group", cascade="all, delete-orphan")


class Customer(db.Model):
    """A Cliente; CPF/CNPJ kept as text exactly as the ERP gave it."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The name without accents, in lower case: what an accent-blind search compares with.
    name_folded: Mapped[str] = mapped_column(String(200), default="")
    tax_id: Mapped[str] = mapped_column(String(40), default="")
    # Normalised list "a@x.com, b@y.com"; see emails property.
    email_addresses: Mapped[str] = mapped_column(Text, default="")
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_group.id", ondelete="SET NULL"), index=True)
    send_email: Mapped[str] = mapped_column(String(10), default=SendEmail.INHERIT.value)
    tolerance_days: Mapped[int | None] = mapped_column(default=None)

    group: Mapped[CustomerGroup | None] = relationship(back_populates="customers")
    account_rules: Mapped[list["CustomerAccountRule"]] = relationship(  # noqa: F821
        back_populates="customer", cascade="all, delete-orphan")
    billing_accounts: Mapped[list["BillingAccount"]] = relationship(  # noqa: F821
        back_populates="customer", cascade="all, delete-orphan")

    @validates("name")
    def _fold_name(self, _key: str, name: str) -> str:
        """Keep ``name_folded`` in step with ``name`` on every ORM write."""
        self.name_folded = fold(name or "")
        return name

    @property
    def emails(self) -> list[str]:
        """The customer's addresses, in the order the ERP or staff gave them."""
        return [e for e in (self.email_addresses or "").split(", ") if e]
