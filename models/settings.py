"""Station settings ("Configuração da Estação > Internet > E-mail") and sending settings: one row."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import db


class StationSettings(db.Model):
    """The single settings row (id 1). The SMTP password is stored Fernet-encrypted only."""

    __tablename__ = "station_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    smtp_server: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(default=587)
    smtp_security: Mapped[str] = mapped_column(String(10), default="starttls")  # none|starttls|ssl
    smtp_user: Mapped[str] = mapped_column(String(255), default="")
    smtp_password_encrypted: Mapped[str] = mapped_column(Text, default="")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_address: Mapped[str] = mapped_column(String(254), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    bcc: Mapped[str] = mapped_column(String(254), default="")
    smtp_timeout: Mapped[int] = mapped_column(default=60)
    max_per_minute: Mapped[int | None] = mapped_column(default=None)
    # Sign-in: "password" (user + password above) or OAuth 2.0 XOAUTH2, "microsoft" or "google".
    smtp_auth_method: Mapped[str] = mapped_column(String(10), default="password",
                                                  server_default="password")
    oauth_tenant: Mapped[str] = mapped_column(String(100), default="", server_default="")
    oauth_client_id: Mapped[str] = mapped_column(String(255), default="", server_default="")
    oauth_client_secret_encrypted: Mapped[str] = mapped_column(Text, default="", server_default="")
    oauth_refresh_token_encrypted: Mapped[str] = mapped_column(Text, default="", server_default="")
    oauth_account: Mapped[str] = mapped_column(String(254), default="", server_default="")
    oauth_refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    oauth_failed_at: Mapped[datetime | None] = mapped_column(default=None)
    oauth_error: Mapped[str] = mapped_column(Text, default="", server_default="")  # '' = working

    resend_interval_days: Mapped[int] = mapped_column(default=7)
    only_overdue: Mapped[bool] = mapped_column(default=False)
    shift_due_dates: Mapped[bool] = mapped_column(default=True)
    contact_line: Mapped[str] = mapped_column(Text, default="")
    # Empty = the built-in default template.
    subject_template: Mapped[str] = mapped_column(Text, default="")
    text_template: Mapped[str] = mapped_column(Text, default="")
    html_template: Mapped[str] = mapped_column(Text, default="")

    # Empty = instance/backups; a network share or a USB drive is fine (see dunning/backup.py).
    backup_folder: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    backup_keep: Mapped[int] = mapped_column(default=30, server_default="30")
    # The run holds back a company whose invoice data is older than this (0 = no limit).
    max_data_age_hours: Mapped[int] = mapped_column(default=24, server_default="24")
    # "Pasta de importação": the folder the ERP's scheduled export writes into ("" = none).
    import_folder: Mapped[str] = mapped_column(Text, default="", server_default="")
    import_pattern: Mapped[str] = mapped_column(String(200), default="*.csv",
                                                server_default="*.csv")
    # Days a run's `skipped` lines are kept (dunning.retention); 0 = forever.
    skip_retention_days: Mapped[int] = mapped_column(default=90, server_default="90")

    # Régua de cobrança (issue 11). Which calendar moves due dates: "bancario" (national holidays
    # plus the days without banking service nationwide) or "nacional" (national holidays only).
    bank_calendar: Mapped[str] = mapped_column(String(10), default="bancario")
    state: Mapped[str] = mapped_column(String(2), default="")            # UF, '' = none
    extra_holidays: Mapped[str] = mapped_column(Text, default="")        # ISO dates, comma-separated
    # Percentages in hundredths (200 = 2,00 %): exact, no float, no Decimal column quirks.
    late_fee_bp: Mapped[int] = mapped_column(default=0)                  # multa, at most 200
    interest_bp_month: Mapped[int] = mapped_column(default=0)            # juros de mora ao mês
    due_soon_days: Mapped[int] = mapped_column(default=0)                # aviso de vencimento, 0 = off
    # The pre-due reminder's templates ('' = built-in default).
    due_soon_subject_template: Mapped[str] = mapped_column(Text, default="")
    due_soon_text_template: Mapped[str] = mapped_column(Text, default="")
    due_soon_html_template: Mapped[str] = mapped_column(Text, default="")

    @property
    def smtp_configured(self) -> bool:
        """A run can only send once a server and a sender are known."""
        return bool(self.smtp_server and self.sender_address)

    @property
    def uses_oauth(self) -> bool:
        return self.smtp_auth_method in ("microsoft", "google")

    @classmethod
    def load(cls, session: Session) -> StationSettings:
        """The settings row, created with defaults on first use."""
        row = session.scalar(select(cls).where(cls.id == 1))
        if row is None:
            row = cls(id=1)
            session.add(row)
            session.flush()
        return row


class EscalationLevel(db.Model):
    """A level of the régua de cobrança: a reminder whose most-late invoice is at least
    ``start_days`` late uses this level's name and templates ('' = the built-in default).

    No rows = the built-in three levels (dunning.levels.DEFAULT_LEVELS).
    """

    __tablename__ = "escalation_level"

    id: Mapped[int] = mapped_column(primary_key=True)
    start_days: Mapped[int] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(60), default="")
    subject_template: Mapped[str] = mapped_column(Text, default="")
    text_template: Mapped[str] = mapped_column(Text, default="")
    html_template: Mapped[str] = mapped_column(Text, default="")
