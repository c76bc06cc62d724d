"""The appliance's data model: one module per aggregate, one shared ``db``."""
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base with stable constraint names, so migrations work on SQLite too."""

    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


db = SQLAlchemy(model_class=Base)

from models.party import Account, Company, Customer, CustomerGroup, SendEmail  # noqa: E402
from models.invoice import Invoice  # noqa: E402
from models.policy import BillingAccount, CustomerAccountRule, GroupAccountRule  # noqa: E402
from models.delivery import OutboxLine, Run, RunLock, RunSkipCount  # noqa: E402
from models.settings import EscalationLevel, StationSettings  # noqa: E402
from models.user import LoginSession, LoginThrottle, User  # noqa: E402
from models.imports import ImportRecord  # noqa: E402

__all__ = [
    "db", "Base", "Company", "Account", "Customer", "CustomerGroup", "SendEmail", "Invoice",
    "BillingAccount", "CustomerAccountRule", "GroupAccountRule", "Run", "OutboxLine", "RunLock",
    "RunSkipCount", "StationSettings", "EscalationLevel", "User", "LoginSession", "LoginThrottle",
    "ImportRecord",
]
