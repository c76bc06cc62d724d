"""Staff edits of the station settings from the browser: SMTP, sending, e-mail templates.

The SMTP password is write-only: an empty value keeps the stored one; it is only ever stored
encrypted (dunning.crypto). So are the Google client secret and the OAuth 2.0 refresh token;
an authorization belongs to one client, one mailbox and one server, so changing any of them
forgets it (see save_smtp).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning.crypto import encrypt_secret
from dunning.oauth import AUTH_METHODS, PASSWORD
from dunning.smtp import (CLEARTEXT_REFUSED, CLEARTEXT_TOKEN_REFUSED, SECURITY_CHOICES,
                          is_local_host)
from dunning.levels import (DEFAULT_LEVELS, MAX_LEVELS, Level, LevelsInvalid, check_levels,
                            load_levels)
from dunning.rules import Reminder
from dunning.statement import Templates, default_templates, sample_due_soon, sample_reminder
from dunning.typed_input import whole_number
from models import EscalationLevel, StationSettings


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
    auth_method: str = PASSWORD
    oauth_tenant: str = ""
    oauth_client_id: str = ""


class SmtpSettingsError(ValueError):
    """SMTP settings refused as a whole (pt-BR message; ``field`` names the form field)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


PASSWORD_AGAIN = ("Para mudar o servidor, a porta, a segurança ou o usuário, digite a senha de "
                  "novo (a senha gravada só vale para o servidor e o usuário atuais).")


def _destination(server: str, port: int, security: str, user: str) -> tuple:
    """Where the stored password would be sent: changing any part needs the password again."""
    return (server.strip().lower(), int(port or 0), security, user.strip().lower())


def _check_registered(settings: StationSettings, values: SmtpValues) -> None:
    """Each value changed from the stored one, as its `settings set` checks it (lengths, one
    line, numbers in range); the sign-in method is checked by check_smtp, by its code."""
    from dunning.settings_registry import REGISTRY
    for setting in REGISTRY.values():
        field = SMTP_COLUMNS.get(setting.attr)
        if field in (None, "auth_method"):
            continue
        value = getattr(values, field)
        if value == getattr(settings, setting.attr):
            continue
        try:
            setting.parse("" if value is None else str(value))
        except ValueError as exc:
            raise SmtpSettingsError(field, str(exc)) from None


def check_smtp(settings: StationSettings, values: SmtpValues, new_password: str = "",
               forget_password: bool = False) -> None:
    """SmtpSettingsError when saving ``values`` would let the stored password (or an OAuth 2.0
    token) go elsewhere:

    * the password would be kept for another server, port, security mode or user (someone could
      point the station at a server of theirs and read the password from the test e-mail);
    * it would cross the network in clear text (security none, server not on this PC);

    and when a changed value is one `settings set` would refuse (the command line comes here).

    With OAuth 2.0 sign-in no password is used, so none is asked for again: save_smtp forgets
    the stored authorization instead when what it was given for changes. Its access tokens must
    not cross the network in clear text either.
    """
    if values.security not in SECURITY_CHOICES:
        raise SmtpSettingsError("security", f"Segurança desconhecida: {values.security!r}.")
    if values.auth_method not in AUTH_METHODS:
        raise SmtpSettingsError("auth_method",
                                f"Forma de entrada desconhecida: {values.auth_method!r}.")
    _check_registered(settings, values)
    if values.auth_method != PASSWORD:
        if values.security == "none" and not is_local_host(values.server):
            raise SmtpSettingsError("security", CLEARTEXT_TOKEN_REFUSED)
        return
    keeps_stored = bool(settings.smtp_password_encrypted) and not new_password and not forget_password
    moved = _destination(values.server, values.port, values.security, values.user) != _destination(
        settings.smtp_server or "", settings.smtp_port, settings.smtp_security or "",
        settings.smtp_user or "")
    if keeps_stored and moved:
        raise SmtpSettingsError("password", PASSWORD_AGAIN)
    has_password = bool(new_password) or keeps_stored
    if (values.security == "none" and values.user.strip() and has_password
            and not is_local_host(values.server)):
        raise SmtpSettingsError("security", CLEARTEXT_REFUSED)


@dataclass(frozen=True)
class SmtpSaved:
    """What save_smtp threw away, for the confirmation staff see."""

    authorization_forgotten: bool = False  # a stored OAuth 2.0 authorization: authorize again
    password_forgotten: bool = False       # a stored password, now that OAuth 2.0 signs in

    def notes(self) -> list[str]:
        """pt-BR sentences telling staff what was thrown away."""
        return ([AUTHORIZATION_FORGOTTEN] if self.authorization_forgotten else []) + (
            [PASSWORD_FORGOTTEN] if self.password_forgotten else [])


AUTHORIZATION_FORGOTTEN = ("A autorização OAuth 2.0 anterior foi descartada (outra forma de "
                           "entrada, aplicativo, caixa de correio ou servidor): autorize de novo.")
PASSWORD_FORGOTTEN = "A senha gravada foi apagada: com OAuth 2.0 ela não é usada."


def _authorization_for(method: str, tenant: str, client_id: str, user: str, server: str,
                       port: int, security: str) -> tuple:
    """What an OAuth 2.0 authorization was given for: its client and mailbox, and the only
    server its tokens may be sent to."""
    return (method, tenant.strip(), client_id.strip(), user.strip().lower(),
            server.strip().lower(), int(port or 0), security)


def save_smtp(session: Session, instance_path: str | os.PathLike | None, values: SmtpValues,
              new_password: str = "", forget_password: bool = False,
              new_client_secret: str = "") -> SmtpSaved:
    """Store the SMTP settings; a non-empty ``new_password`` replaces the stored (encrypted) one,
    a non-empty ``new_client_secret`` the Google client secret (``instance_path`` holds the key
    they are encrypted with; None when neither is given).

    Raises SmtpSettingsError (nothing stored) for what check_smtp refuses. A stored OAuth 2.0
    authorization is forgotten when the method, tenant, client ID, user, server, port or
    security changes (a changed account never reuses the old tokens) and when password sign-in
    is chosen; a stored password is forgotten when OAuth 2.0 sign-in is chosen (it is not used
    any more, and must not wait to be sent to whatever server is set up later).
    """
    settings = StationSettings.load(session)
    check_smtp(settings, values, new_password, forget_password)
    oauth = values.auth_method != PASSWORD
    given_for = _authorization_for(values.auth_method, values.oauth_tenant, values.oauth_client_id,
                                   values.user, values.server, values.port, values.security)
    authorization_forgotten = bool(settings.oauth_refresh_token_encrypted) and (
        not oauth or given_for != _authorization_for(
            settings.smtp_auth_method, settings.oauth_tenant or "",
            settings.oauth_client_id or "", settings.smtp_user or "",
            settings.smtp_server or "", settings.smtp_port, settings.smtp_security or ""))
    if authorization_forgotten or not oauth:
        settings.oauth_refresh_token_encrypted, settings.oauth_account = "", ""
        settings.oauth_refreshed_at = settings.oauth_failed_at = None
        settings.oauth_error = ""
    password_forgotten = oauth and bool(settings.smtp_password_encrypted)
    settings.smtp_auth_method = values.auth_method
    settings.oauth_tenant = values.oauth_tenant.strip()
    settings.oauth_client_id = values.oauth_client_id.strip()
    if new_client_secret:
        settings.oauth_client_secret_encrypted = encrypt_secret(instance_path, new_client_secret)
    settings.smtp_server, settings.smtp_port = values.server.strip(), values.port
    settings.smtp_security, settings.smtp_user = values.security, values.user.strip()
    settings.sender_name, settings.sender_address = values.sender_name.strip(), values.sender_address.strip()
    settings.reply_to, settings.bcc = values.reply_to.strip(), values.bcc.strip()
    settings.smtp_timeout, settings.max_per_minute = values.timeout, values.max_per_minute or None
    if oauth or forget_password:
        settings.smtp_password_encrypted = ""
    elif new_password:
        settings.smtp_password_encrypted = encrypt_secret(instance_path, new_password)
    session.commit()
    return SmtpSaved(authorization_forgotten, password_forgotten)
    return forgotten


# The column of each SMTP setting and the SmtpValues field it fills: `settings set` changes one
# through save_smtp, so it meets the same rules as the form (password again, authorization
# forgotten, no clear text).
SMTP_COLUMNS = {"smtp_server": "server", "smtp_port": "port", "smtp_security": "security",
                "smtp_user": "user", "sender_name": "sender_name",
                "sender_address": "sender_address", "reply_to": "reply_to", "bcc": "bcc",
                "smtp_timeout": "timeout", "max_per_minute": "max_per_minute",
                "smtp_auth_method": "auth_method", "oauth_tenant": "oauth_tenant",
                "oauth_client_id": "oauth_client_id"}


def stored_smtp_values(settings: StationSettings) -> SmtpValues:
    """The SMTP settings as stored, as the form would send them back unchanged."""
    return SmtpValues(
        server=settings.smtp_server or "", port=settings.smtp_port or 0,
        security=settings.smtp_security or "starttls", user=settings.smtp_user or "",
        sender_name=settings.sender_name or "", sender_address=settings.sender_address or "",
        reply_to=settings.reply_to or "", bcc=settings.bcc or "",
        timeout=settings.smtp_timeout or 60, max_per_minute=settings.max_per_minute or None,
        auth_method=settings.smtp_auth_method or PASSWORD,
        oauth_tenant=settings.oauth_tenant or "", oauth_client_id=settings.oauth_client_id or "")


def change_smtp_setting(session: Session, column: str, value) -> SmtpSaved:
    """Store one SMTP setting (a column of SMTP_COLUMNS), the others as they are, under
    save_smtp's rules. Raises SmtpSettingsError, storing nothing."""
    settings = StationSettings.load(session)
    values = replace(stored_smtp_values(settings), **{SMTP_COLUMNS[column]: value})
    return save_smtp(session, None, values)


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


def save_registered(session: Session, values: dict[str, str]) -> None:
    """Store several registered settings at once (all checked first: all or nothing)."""
    from dunning.settings_registry import REGISTRY
    parsed = {REGISTRY[name].attr: REGISTRY[name].parse(text) for name, text in values.items()}
    settings = StationSettings.load(session)
    for attr, value in parsed.items():
        setattr(settings, attr, value)
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


# --- templates per message: the common one, each level's, the pre-due notice's -------------

COMMON, DUE_SOON_TARGET = "comum", "aviso"


def template_targets(session: Session) -> list[tuple[str, str]]:
    """(key, pt-BR label) of every template set staff can edit."""
    levels = load_levels(session)
    return ([(COMMON, "Comum a todos os níveis")] +
            [(f"nivel-{level.number}", f"Nível {level.number}: {level.name} (a partir de "
              f"{level.start_days} dia{'s' if level.start_days != 1 else ''} de atraso)")
             for level in levels] +
            [(DUE_SOON_TARGET, "Aviso de vencimento")])


def _level_of(session: Session, key: str) -> Level | None:
    """The level a key such as 'nivel-2' names, or None."""
    number = whole_number(key[6:], 1, MAX_LEVELS) if key.startswith("nivel-") else None
    if number is None:
        return None
    levels = load_levels(session)
    return levels[number - 1] if number <= len(levels) else None


def known_target(session: Session, key: str) -> bool:
    return key in (COMMON, DUE_SOON_TARGET) or _level_of(session, key) is not None


def target_templates(session: Session, settings: StationSettings, key: str) -> Templates:
    """The sources in use for ``key`` (what the form shows): its own, else what stands in."""
    if key == DUE_SOON_TARGET:
        default = default_templates("due_soon")
        return Templates(settings.due_soon_subject_template or default.subject,
                         settings.due_soon_text_template or default.text,
                         settings.due_soon_html_template or default.html)
    common = current_templates(settings)
    level = _level_of(session, key)
    if level is None:
        return common
    return Templates(level.subject or common.subject, level.text or common.text,
                     level.html or common.html)


def target_samples(session: Session, key: str, as_of) -> list[Reminder]:
    """The made-up reminders ``key``'s templates are checked with (the first is previewed): the
    common templates serve every level, so they are checked at each."""
    if key == DUE_SOON_TARGET:
        return [sample_due_soon(as_of)]
    level = _level_of(session, key)
    samples = []
    for each in ([level] if level is not None else load_levels(session)):
        reminder = sample_reminder(as_of)
        reminder.level = each
        samples.append(reminder)
    return samples


def save_target_templates(session: Session, key: str, templates: Templates) -> None:
    """Store ``key``'s templates; a source equal to what would stand in is stored as ''."""
    if key == COMMON:
        save_templates(session, templates)
        return
    settings = StationSettings.load(session)
    if key == DUE_SOON_TARGET:
        default = default_templates("due_soon")
        settings.due_soon_subject_template = _own(templates.subject, default.subject)
        settings.due_soon_text_template = _own(templates.text, default.text)
        settings.due_soon_html_template = _own(templates.html, default.html)
        session.commit()
        return
    common = current_templates(settings)
    rows = _level_rows(session)
    row = rows[int(key[6:]) - 1]
    row.subject_template = _own(templates.subject, common.subject)
    row.text_template = _own(templates.text, common.text)
    row.html_template = _own(templates.html, common.html)
    session.commit()


def restore_target(session: Session, key: str) -> None:
    """"Restaurar padrão" of one template set ('' everywhere: built-in, or the common one)."""
    if key == COMMON:
        restore_default_templates(session)
    else:
        save_target_templates(session, key, Templates("", "", ""))


def _own(source: str, standing_in: str) -> str:
    source = source.replace("\r\n", "\n")
    return "" if source.strip() == standing_in.replace("\r\n", "\n").strip() else source


def _level_rows(session: Session) -> list[EscalationLevel]:
    """The levels as rows, the built-in ones written out first when the station has none."""
    rows = list(session.scalars(select(EscalationLevel).order_by(EscalationLevel.start_days)))
    if not rows:
        rows = [EscalationLevel(name=level.name, start_days=level.start_days, subject_template="",
                                text_template="", html_template="") for level in DEFAULT_LEVELS]
        session.add_all(rows)
        session.flush()
    return rows


def save_levels(session: Session, levels: list[tuple[str, int]]) -> None:
    """Replace the levels' names and starts (sorted by start); the n-th level keeps the n-th
    level's own templates. Raises LevelsInvalid (pt-BR errors), changing nothing."""
    errors = check_levels(levels)
    if errors:
        raise LevelsInvalid(errors)
    rows = _level_rows(session)
    kept = [(r.subject_template, r.text_template, r.html_template) for r in rows]
    for row in rows:
        session.delete(row)
    session.flush()
    for position, (name, start) in enumerate(sorted(levels, key=lambda level: level[1])):
        subject, text, html = kept[position] if position < len(kept) else ("", "", "")
        session.add(EscalationLevel(name=name.strip(), start_days=start, subject_template=subject,
                                    text_template=text, html_template=html))
    session.commit()


def save_import(session: Session, folder: str, pattern: str, max_data_age_hours: int) -> None:
    """Store the import folder, its file pattern and the data age limit (0 = no limit).

    The caller checked the folder (``dunning.folder.folder_problem``); "" turns it off.
    """
    settings = StationSettings.load(session)
    settings.import_folder = folder.strip()
    settings.import_pattern = pattern.strip() or "*.csv"
    settings.max_data_age_hours = max_data_age_hours
    session.commit()
