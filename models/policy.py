"""Dunning settings by account: customer and group account entries, customer billing accounts.

These are staff decisions; an invoice import never touches them.
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.party import Account, Customer, CustomerGroup


class CustomerAccountRule(db.Model):
    """A customer's (Empresa, Conta) entry on "Política Comercial > Conta", with its own checkbox."""

    __tablename__ = "customer_account_rule"
    __table_args__ = (UniqueConstraint("customer_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    send_email: Mapped[bool] = mapped_column(default=True)

    customer: Mapped[Customer] = relationship(back_populates="account_rules")
    account: Mapped[Account] = relationship()


class GroupAccountRule(db.Model):
    """A group's (Empresa, Conta) entry on the "Vencimentos" tab, with its own checkbox."""

    __tablename__ = "group_account_rule"
    __table_args__ = (UniqueConstraint("group_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_group.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    send_email: Mapped[bool] = mapped_column(default=True)

    group: Mapped[CustomerGroup] = relationship(back_populates="account_rules")
    account: Mapped[Account] = relationship()


class BillingAccount(db.Model):
    """A (Empresa, Conta) on the customer's "Faturamento" tab; when any exist they bound the scope."""

    __tablename__ = "billing_account"
    __table_args__ = (UniqueConstraint("customer_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))

    customer: Mapped[Customer] = relationship(back_populates="billing_accounts")
    account: Mapped[Account] = relationship()
