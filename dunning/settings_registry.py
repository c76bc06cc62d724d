"""The station settings by name: what ``flask --app app settings`` lists and ``settings set``
changes, validated exactly as the Configurações forms validate them.

Each entry knows its pt-BR label, how to read a typed value (raising ValueError with a pt-BR
message naming the value) and how to show the stored one. Whoever adds a station setting
registers it here (``register``), so the command line and the form never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.orm import Session

from dunning.bank_calendar import CALENDAR_CHOICES, STATES, parse_extra_dates
from dunning.charges import (MAX_INTEREST_BP_MONTH, MAX_LATE_FEE_BP, format_percent,
                             parse_percent)
from dunning.smtp import SECURITY_CHOICES, usable_address
from dunning.station_edit import SMTP_COLUMNS, SmtpSettingsError, change_smtp_setting
from dunning.typed_input import shown, unstorable, whole_number
from models import StationSettings

# Bounds shared with the browser forms (blueprints/settings.py).
PORT_RANGE = (1, 65535)
TIMEOUT_RANGE = (1, 600)
PER_MINUTE_RANGE = (1, 10000)
RESEND_RANGE = (0, 365)
DUE_SOON_RANGE = (0, 60)
SKIP_RETENTION_RANGE = (0, 3650)


@dataclass(frozen=True)
class Setting:
    """One station setting: its command-line name, pt-BR label and the column it lives in."""

    name: str
    label: str
    attr: str
    parse: Callable[[str], Any]        # typed text -> stored value; ValueError (pt-BR) if bad
    show: Callable[[Any], str] = lambda value: "" if value is None else str(value)
    accepts: str = ""                  # pt-BR: what may be typed


REGISTRY: dict[str, Setting] = {}


def register(setting: Setting) -> Setting:
    """Add ``setting`` to the registry (its name must be new)."""
    if setting.name in REGISTRY:
        raise ValueError(f"setting {setting.name} registered twice")
    REGISTRY[setting.name] = setting
    return setting


class UnknownSetting(LookupError):
    """``settings set`` named no registered setting."""


def integer(label: str, low: int, high: int, optional: bool = False) -> Callable[[str], int | None]:
    """A parser of a whole number between ``low`` and ``high`` (empty allowed when optional)."""
    def parse(text: str) -> int | None:
        if optional and not text.strip():
            return None
        number = whole_number(text, low, high)
        if number is None:
            empty = ", ou vazio" if optional else ""
            raise ValueError(f"{label}: valor inválido '{shown(text)}'; use um número inteiro de "
                             f"{low} a {high}{empty}.")
        return number
    return parse


def text(label: str, limit: int, required: bool = False,
         email: bool = False) -> Callable[[str], str]:
    """A parser of one line of text (an e-mail address when ``email``)."""
    def parse(value: str) -> str:
        value = value.strip()
        if any(c in value for c in "\r\n"):
            raise ValueError(f"{label}: use uma única linha.")
        if required and not value:
            raise ValueError(f"{label}: informe um valor.")
        if len(value) > limit:
            raise ValueError(f"{label}: no máximo {limit} caracteres (recebidos {len(value)}).")
        if email and value and not usable_address(value):
            raise ValueError(f"{label}: e-mail inválido '{shown(value)}' (sem acentos antes do @).")
        return value
    return parse


def choice(label: str, choices: dict[str, Any]) -> Callable[[str], Any]:
    """A parser of one of ``choices``' keys (case and spaces ignored)."""
    def parse(value: str) -> Any:
        key = value.strip().lower()
        if key not in choices:
            raise ValueError(f"{label}: valor inválido '{shown(value)}'; use "
                             f"{' ou '.join(repr(c) for c in choices)}.")
        return choices[key]
    return parse


def parse_state(value: str) -> str:
    """A UF (two letters) or '' for none."""
    state = value.strip().upper()
    if state and state not in STATES:
        raise ValueError(f"UF inválida '{shown(value)}'; use a sigla do estado (por exemplo SP) ou vazio.")
    return state


def parse_extra_holidays(value: str) -> str:
    """Extra dates as stored: ISO, sorted, comma-separated."""
    return ",".join(day.isoformat() for day in parse_extra_dates(value))


def parse_backup_folder(value: str) -> str:
    """A folder backups can be written to (checked by writing), or '' for instance/backups."""
    from dunning.backup import check_folder
    folder = value.strip()
    if folder and (problem := check_folder(folder)):
        raise ValueError(f"Pasta dos backups: {problem}")
    return folder


def _yes_no(value: bool) -> str:
    return "sim" if value else "nao"


_YES_NO = {"sim": True, "nao": False, "não": False}

for _setting in (
    Setting("smtp_servidor", "Servidor SMTP", "smtp_server", text("Servidor SMTP", 255, True)),
    Setting("smtp_porta", "Porta", "smtp_port", integer("Porta", *PORT_RANGE), accepts="1 a 65535"),
    Setting("smtp_seguranca", "Segurança", "smtp_security",
            choice("Segurança", {c: c for c in SECURITY_CHOICES}),
            accepts=" | ".join(SECURITY_CHOICES)),
    Setting("smtp_usuario", "Usuário", "smtp_user", text("Usuário", 255)),
    Setting("remetente_nome", "Nome do remetente", "sender_name", text("Nome do remetente", 200)),
    Setting("remetente_email", "E-mail do remetente", "sender_address",
            text("E-mail do remetente", 254, required=True, email=True)),
    Setting("responder_para", "Responder para (Reply-To)", "reply_to",
            text("Responder para", 254, email=True)),
    Setting("copia_oculta", "Cópia oculta para a estação (Cco)", "bcc",
            text("Cópia oculta", 254, email=True)),
    Setting("smtp_entrada", "Forma de entrada no SMTP", "smtp_auth_method",
            choice("Forma de entrada", {"senha": "password", "microsoft": "microsoft",
                                        "google": "google"}),
            show=lambda method: "senha" if method == "password" else method,
            accepts="senha | microsoft | google (OAuth 2.0: depois, authorize-smtp)"),
    Setting("oauth_tenant", "ID do diretório (tenant) — Microsoft 365", "oauth_tenant",
            text("ID do diretório (tenant)", 100)),
    Setting("oauth_client_id", "ID do aplicativo OAuth 2.0 (client ID)", "oauth_client_id",
            text("ID do aplicativo (client ID)", 255)),
    Setting("smtp_tempo_limite", "Tempo limite (segundos)", "smtp_timeout",
            integer("Tempo limite", *TIMEOUT_RANGE), accepts="1 a 600"),
    Setting("max_por_minuto", "Máximo de mensagens por minuto", "max_per_minute",
            integer("Máximo de mensagens por minuto", *PER_MINUTE_RANGE, optional=True),
            accepts="1 a 10000, ou vazio para sem limite"),
    Setting("intervalo_reenvio", "Reenviar a cada (dias)", "resend_interval_days",
            integer("Reenviar a cada (dias)", *RESEND_RANGE), accepts="0 a 365"),
    Setting("faturas_listadas", "Faturas listadas no e-mail", "only_overdue",
            choice("Faturas listadas no e-mail", {"todas": False, "vencidas": True}),
            show=lambda only: "vencidas" if only else "todas", accepts="todas | vencidas"),
    Setting("mover_vencimento", "Vencimento em dia não útil passa para o próximo dia útil",
            "shift_due_dates", choice("Mover vencimento", _YES_NO), show=_yes_no,
            accepts="sim | nao"),
    Setting("linha_contato", "Linha de contato", "contact_line", text("Linha de contato", 500)),
    Setting("calendario", "Calendário dos vencimentos", "bank_calendar",
            choice("Calendário", {c: c for c in CALENDAR_CHOICES}),
            accepts=" | ".join(CALENDAR_CHOICES)),
    Setting("uf", "UF da estação (feriados estaduais)", "state", parse_state,
            accepts="sigla do estado, ou vazio"),
    Setting("feriados_extras", "Feriados extras (municipais)", "extra_holidays",
            parse_extra_holidays, accepts="datas AAAA-MM-DD separadas por vírgula"),
    Setting("multa_percentual", "Multa por atraso (%)", "late_fee_bp",
            lambda v: parse_percent(v, MAX_LATE_FEE_BP, "Multa por atraso"),
            show=format_percent, accepts="0 a 2,00 (CDC art. 52 §1); 0 = sem multa"),
    Setting("juros_percentual_mes", "Juros de mora (% ao mês, pro rata die)", "interest_bp_month",
            lambda v: parse_percent(v, MAX_INTEREST_BP_MONTH, "Juros de mora"),
            show=format_percent, accepts="0 a 10,00; 0 = sem juros"),
    Setting("aviso_vencimento_dias", "Aviso de vencimento (dias antes; 0 = desligado)",
            "due_soon_days", integer("Aviso de vencimento", *DUE_SOON_RANGE), accepts="0 a 60"),
    Setting("backup_pasta", "Pasta dos backups", "backup_folder", parse_backup_folder,
            accepts="caminho completo, ou vazio para instance/backups"),
    Setting("backup_quantos", "Quantos backups guardar", "backup_keep",
            integer("Quantos backups guardar", 1, 3650), accepts="1 a 3650"),
    Setting("ignorados_guardar_dias", "Guardar os clientes ignorados de cada envio por (dias)",
            "skip_retention_days",
            integer("Guardar os clientes ignorados por", *SKIP_RETENTION_RANGE),
            accepts="0 a 3650; 0 = para sempre"),
):
    register(_setting)


def current_values(session: Session) -> list[tuple[Setting, str]]:
    """Every registered setting with its stored value as text."""
    row = StationSettings.load(session)
    return [(setting, setting.show(getattr(row, setting.attr))) for setting in REGISTRY.values()]


@dataclass(frozen=True)
class Stored:
    """What ``settings set`` stored: the value as text, and pt-BR notes on what else changed
    (an SMTP setting may forget the OAuth 2.0 authorization or the password, see save_smtp)."""

    shown: str
    notes: list[str] = field(default_factory=list)


def set_value(session: Session, name: str, value: str) -> Stored:
    """Validate and store one setting. Raises UnknownSetting, or ValueError (pt-BR) leaving the
    data unchanged. The SMTP ones go through dunning.station_edit.save_smtp, as the form's do:
    moving a stored password needs it typed again, changing what an OAuth 2.0 authorization
    was given for forgets it."""
    setting = REGISTRY.get(name.strip().lower())
    if setting is None:
        raise UnknownSetting(name)
    if problem := unstorable(value):
        raise ValueError(f"{setting.label}: o valor {problem}.")
    parsed = setting.parse(value)
    if setting.attr in SMTP_COLUMNS:
        try:
            saved = change_smtp_setting(session, setting.attr, parsed)
        except SmtpSettingsError as exc:
            hint = (" Use `flask --app app configure-smtp` com --password-stdin."
                    if exc.field == "password" else "")
            raise ValueError(f"{exc}{hint}") from exc
        return Stored(setting.show(parsed), saved.notes())
    row = StationSettings.load(session)
    setattr(row, setting.attr, parsed)
    session.commit()
    return Stored(setting.show(parsed))
