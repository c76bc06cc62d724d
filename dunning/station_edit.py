"""Staff edits of the station settings from the browser: SMTP, sending, e-mail templates.

The SMTP password is write-only: an empty value keeps the stored one; it is only ever stored
encrypted (dunning.crypto).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.orm import Session

from dunning.crypto import encrypt_secret
from dunning.smtp import SECURITY_CHOICES
from dunning.statement import Templates, default_templates
from models import StationSettings


@dataclass(frozen=True)
class SmtpValues:
    """The SMTP fields of the settings form (password handled apart)."""

    server: str
    port: int
    security: str
    user: str
    sender_name: str
    sender_address: str
    reply_to: str
    bcc: str
    timeout: int
    max_per_minute: int | None


def save_smtp(session: Session, instance_path: str | os.PathLike, values: SmtpValues,
              new_password: str = "", forget_password: bool = False) -> None:
    """Store the SMTP settings; a non-empty ``new_password`` replaces the stored (encrypted) one."""
    if values.security not in SECURITY_CHOICES:
        raise ValueError(values.security)
    settings = StationSettings.load(session)
    settings.smtp_server, settings.smtp_port = values.server.strip(), values.port
    settings.smtp_security, settings.smtp_user = values.security, values.user.strip()
    settings.sender_name, settings.sender_address = values.sender_name.strip(), values.sender_address.strip()
    settings.reply_to, settings.bcc = values.reply_to.strip(), values.bcc.strip()
    settings.smtp_timeout, settings.max_per_minute = values.timeout, values.max_per_minute or None
    if new_password:
        settings.smtp_password_encrypted = encrypt_secret(instance_path, new_password)
    elif forget_password:
        settings.smtp_password_encrypted = ""
    session.commit()


def save_sending(session: Session, resend_interval_days: int, only_overdue: bool,
                 shift_due_dates: bool, contact_line: str) -> None:
    """Store the sending settings (SPEC §3)."""
    settings = StationSettings.load(session)
    settings.resend_interval_days = resend_interval_days
    settings.only_overdue = only_overdue
    settings.shift_due_dates = shift_due_dates
    settings.contact_line = contact_line.strip()
    session.commit()


def save_backup_settings(session: Session, folder: str, keep: int) -> None:
    """Store where backups go (empty = instance/backups) and how many are kept."""
    settings = StationSettings.load(session)
    settings.backup_folder = folder.strip()
    settings.backup_keep = keep
    session.commit()


def current_templates(settings: StationSettings) -> Templates:
    """The sources in use, the built-in default standing in for an empty one."""
    default = default_templates()
    return Templates(subject=settings.subject_template or default.subject,
                     text=settings.text_template or default.text,
                     html=settings.html_template or default.html)


def save_templates(session: Session, templates: Templates) -> None:
    """Store the templates; one equal to the built-in default is stored as '' (follows updates)."""
    default = default_templates()
    settings = StationSettings.load(session)

    def stored(source: str, built_in: str) -> str:
        return "" if source.replace("\r\n", "\n").strip() == built_in.strip() else source.replace("\r\n", "\n")

    settings.subject_template = stored(templates.subject, default.subject)
    settings.text_template = stored(templates.text, default.text)
    settings.html_template = stored(templates.html, default.html)
    session.commit()


def restore_default_templates(session: Session) -> None:
    """"Restaurar padrão": back to the built-in templates."""
    save_templates(session, Templates("", "", ""))


def save_import(session: Session, folder: str, pattern: str, max_data_age_hours: int) -> None:
    """Store the import folder, its file pattern and the data age limit (0 = no limit).

    The caller checked the folder (``dunning.folder.folder_problem``); "" turns it off.
    """
    settings = StationSettings.load(session)
    settings.import_folder = folder.strip()
    settings.import_pattern = pattern.strip() or "*.csv"
    settings.max_data_age_hours = max_data_age_hours
    session.commit()
