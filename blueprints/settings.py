"""Configurações: SMTP (write-only password, test e-mail), sending settings, e-mail templates.

Each form's result is flashed with its section ("success:smtp") and shown inside that section,
with autofocus, so the browser scrolls to it and reads it first: the person sees it where they
pressed the button, not above the top of the window. (No URL fragment: a fragment's target
would cancel the autofocus.)
"""
from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from wtforms import (BooleanField, HiddenField, IntegerField, PasswordField, RadioField, SelectChoice,
                     SelectField, StringField, TextAreaField)
from wtforms.validators import (DataRequired, InputRequired, Length, NumberRange, Optional,
                                ValidationError)

from blueprints.forms import PageForm
from blueprints.oauth import AuthorizeForm
from dunning import backup, settings_registry, station_edit
from dunning.bank_calendar import CALENDAR_CHOICES, STATES
from dunning.levels import MAX_LEVELS, LevelsInvalid, load_levels
from dunning.delivery import CannotRun
from dunning.manual import send_test_email
from dunning.oauth import AUTH_METHOD_LABELS, GOOGLE, MICROSOFT, PASSWORD
from dunning.sender import DeliveryOptions
from dunning.smtp import AuthorizationFailed, SmtpFailure, usable_address
from dunning.smtp_replies import explain as explain_smtp_reply
from dunning.statement import TEMPLATE_VARIABLES, Templates, render, validate_templates
from dunning.typed_input import MAX_DIGITS, shown, whole_number
from models import StationSettings, db

bp = Blueprint("settings", __name__, url_prefix="/configuracoes")


def _usable_email(form, field) -> None:
    """The address rule the sender applies (dunning.smtp.usable_address), as a form error."""
    if field.data and not usable_address(field.data.strip()):
        raise ValidationError("E-mail inválido (sem acentos antes do @).")


class SmtpForm(PageForm):
    """"Configuração da Estação > Internet > E-mail"."""

    auth_method = SelectField("Forma de entrada", default=PASSWORD, choices=[
        SelectChoice(value, label) for value, label in AUTH_METHOD_LABELS.items()])
    server = StringField("Servidor SMTP", validators=[DataRequired("Informe o servidor."), Length(max=255)])
    port = IntegerField("Porta", default=587, validators=[
        DataRequired("Informe a porta."), NumberRange(1, 65535, "Porta entre 1 e 65535.")])
    security = SelectField("Segurança", choices=[
        SelectChoice("starttls", "STARTTLS (porta 587)"), SelectChoice("ssl", "SSL/TLS (porta 465)"),
        SelectChoice("none", "Nenhuma (porta 25, só em rede local)")])
    user = StringField("Usuário", validators=[Length(max=255)])
    password = PasswordField("Senha", validators=[Length(max=500)])
    forget_password = BooleanField("Apagar a senha gravada")
    oauth_tenant = StringField("ID do diretório (tenant) — Microsoft 365",
                               validators=[Length(max=100)])
    oauth_client_id = StringField("ID do aplicativo (client ID)", validators=[Length(max=255)])
    oauth_client_secret = PasswordField("Segredo do cliente (client secret) — Google",
                                        validators=[Length(max=500)])
    sender_name = StringField("Nome do remetente", validators=[Length(max=200)])
    sender_address = StringField("E-mail do remetente", validators=[
        DataRequired("Informe o e-mail do remetente."), _usable_email, Length(max=254)])
    reply_to = StringField("Responder para (Reply-To)", validators=[Optional(), _usable_email, Length(max=254)])
    bcc = StringField("Cópia oculta para a estação (Cco)", validators=[Optional(), _usable_email, Length(max=254)])
    timeout = IntegerField("Tempo limite (segundos)", default=60, validators=[
        DataRequired("Informe o tempo limite."), NumberRange(1, 600, "Entre 1 e 600 segundos.")])
    max_per_minute = IntegerField("Máximo de mensagens por minuto", validators=[
        Optional(), NumberRange(1, 10000, "Entre 1 e 10000, ou vazio para sem limite.")])


    def validate_oauth_tenant(self, field) -> None:
        if self.auth_method.data == MICROSOFT and not (field.data or "").strip():
            raise ValidationError("Informe o ID do diretório (tenant) do Microsoft Entra ID.")

    def validate_oauth_client_id(self, field) -> None:
        if self.auth_method.data != PASSWORD and not (field.data or "").strip():
            raise ValidationError("Informe o ID do aplicativo (client ID) registrado no provedor.")

    def validate_user(self, field) -> None:
        if self.auth_method.data == GOOGLE and not (field.data or "").strip():
            raise ValidationError("Informe o endereço da conta Google que envia.")

    def check_client_secret(self, settings: StationSettings) -> bool:
        """Google needs the client secret: typed now, or stored for this same client ID."""
        if self.auth_method.data != GOOGLE or self.oauth_client_secret.data or (
                settings.oauth_client_secret_encrypted
                and settings.oauth_client_id == (self.oauth_client_id.data or "").strip()):
            return True
        self.oauth_client_secret.errors = [*self.oauth_client_secret.errors,
                                           "Informe o segredo do cliente (client secret)."]
        return False


class TestEmailForm(PageForm):
    address = StringField("Enviar para", validators=[DataRequired("Informe um e-mail."), _usable_email])


class SendingForm(PageForm):
    resend_interval_days = IntegerField("Reenviar a cada (dias)", default=7, validators=[
        InputRequired("Informe o intervalo."), NumberRange(0, 365, "Entre 0 e 365 dias.")])
    only_overdue = RadioField("Faturas listadas no e-mail", choices=[
        SelectChoice("todas", "Todas as faturas em aberto"), SelectChoice("vencidas", "Só as vencidas")],
        default="todas")
    shift_due_dates = BooleanField("Vencimento em sábado, domingo ou feriado nacional passa para o "
                                   "próximo dia útil")
    contact_line = StringField("Linha de contato", validators=[Length(max=500)])


def _registry(name: str):
    """The registry's own check of setting ``name`` (the one `settings set` applies)."""
    def check(form, field) -> None:
        try:
            settings_registry.REGISTRY[name].parse("" if field.data is None else str(field.data))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    return check


class CollectionForm(PageForm):
    """Régua de cobrança: calendar, multa/juros, the pre-due notice (names as in `settings`)."""

    calendario = SelectField("Calendário dos vencimentos", choices=[
        SelectChoice(key, label.capitalize()) for key, label in CALENDAR_CHOICES.items()],
        validators=[_registry("calendario")])
    uf = SelectField("UF da estação (feriados estaduais)",
                     choices=[SelectChoice("", "Nenhuma")] + [SelectChoice(s, s) for s in STATES],
                     validators=[_registry("uf")])
    feriados_extras = TextAreaField("Feriados extras (municipais)",
                                    validators=[Length(max=5000), _registry("feriados_extras")])
    multa_percentual = StringField("Multa por atraso (%)", validators=[_registry("multa_percentual")])
    juros_percentual_mes = StringField("Juros de mora (% ao mês, pro rata die)",
                                       validators=[_registry("juros_percentual_mes")])
    aviso_vencimento_dias = StringField("Aviso de vencimento: dias antes (0 = desligado)",
                                        validators=[_registry("aviso_vencimento_dias")])


def _usable_folder(form, field) -> None:
    """The import folder must exist and be readable (empty turns it off)."""
    from dunning.folder import folder_problem
    if field.data and field.data.strip():
        problem = folder_problem(field.data)
        if problem:
            raise ValidationError(problem[0].upper() + problem[1:] + ".")


class ImportForm(PageForm):
    import_folder = StringField("Pasta de importação", validators=[Length(max=1000), _usable_folder])
    import_pattern = StringField("Arquivos a importar", default="*.csv", validators=[Length(max=200)])
    max_data_age_hours = IntegerField("Idade máxima dos dados de faturas (horas)", default=24,
                                      validators=[InputRequired("Informe a idade máxima."),
                                                  NumberRange(0, 8760, "Entre 0 e 8760 horas.")])
class RetentionForm(PageForm):
    """How long the run history keeps who was skipped (dunning.retention)."""

    ignorados_guardar_dias = StringField("Guardar a lista dos clientes ignorados por (dias)",
                                         validators=[_registry("ignorados_guardar_dias")])


class TemplatesForm(PageForm):
    target = HiddenField(default=station_edit.COMMON)
    subject = StringField("Assunto", validators=[Length(max=500)])
    text = TextAreaField("Texto simples")
    html = TextAreaField("HTML")


class BackupForm(PageForm):
    folder = StringField("Pasta dos backups", validators=[Length(max=1000)])
    keep = IntegerField("Quantos backups guardar", default=30, validators=[
        InputRequired("Informe quantos backups guardar."), NumberRange(1, 3650, "Entre 1 e 3650.")])


class ConfirmForm(PageForm):
    """Only the CSRF token: for the "Restaurar padrão" button."""


def _settings() -> StationSettings:
    settings = StationSettings.load(db.session)
    db.session.commit()
    return settings


def _smtp_form(settings: StationSettings) -> SmtpForm:
    return SmtpForm(formdata=None, data={
        "auth_method": settings.smtp_auth_method, "oauth_tenant": settings.oauth_tenant,
        "oauth_client_id": settings.oauth_client_id, "server": settings.smtp_server, "port": settings.smtp_port, "security": settings.smtp_security,
        "user": settings.smtp_user, "sender_name": settings.sender_name,
        "sender_address": settings.sender_address, "reply_to": settings.reply_to, "bcc": settings.bcc,
        "timeout": settings.smtp_timeout, "max_per_minute": settings.max_per_minute})


def _sending_form(settings: StationSettings) -> SendingForm:
    return SendingForm(formdata=None, data={
        "resend_interval_days": settings.resend_interval_days,
        "only_overdue": "vencidas" if settings.only_overdue else "todas",
        "shift_due_dates": settings.shift_due_dates, "contact_line": settings.contact_line})


def _import_form(settings: StationSettings) -> ImportForm:
    return ImportForm(formdata=None, data={
        "import_folder": settings.import_folder, "import_pattern": settings.import_pattern,
        "max_data_age_hours": settings.max_data_age_hours})


def _registered_form(form_class: type[PageForm]) -> PageForm:
    """A form whose fields are registered settings (named as in `settings`), filled with the
    stored values as `settings` shows them."""
    shown = {s.name: value for s, value in settings_registry.current_values(db.session)}
    return form_class(formdata=None, data={name: value for name, value in shown.items()
                                           if hasattr(form_class, name)})


def _target(key: str | None) -> str:
    """The template set asked for, the common one when unknown."""
    return key if key and station_edit.known_target(db.session, key) else station_edit.COMMON


_UNKNOWN_TARGET = ("Esse conjunto de modelos não existe (um nível apagado?). Escolha o modelo "
                   "na lista e tente de novo.")


def _known(key: str | None) -> bool:
    """A template set a form may save to: none named means the common one; an unknown one is
    refused, not saved as the common templates."""
    return not key or station_edit.known_target(db.session, key)


def _templates_form(settings: StationSettings, key: str = station_edit.COMMON) -> TemplatesForm:
    current = station_edit.target_templates(db.session, settings, key)
    return TemplatesForm(formdata=None, data={"target": key, "subject": current.subject,
                                              "text": current.text, "html": current.html})


class LevelsForm(PageForm):
    """Only the CSRF token: the rows (nome-N, dias-N) are read from the request."""


def _backup_status(settings: StationSettings) -> dict:
    """What the Backup section shows: the folder, the last backup, or why there is none."""
    if backup.sqlite_file(db.engine) is None:
        return {"postgresql": True}
    folder = backup.station_folder(settings, current_app.instance_path)
    status = {"folder": folder, "last": None, "count": 0, "error": None}
    try:
        found = backup.list_backups(folder)
    except backup.BackupError as exc:
        status["error"] = str(exc)
    else:
        status.update(last=found[0] if found else None, count=len(found))
    return status


def _page(status: int = 200, preview=None, **forms):
    settings = _settings()
    forms.setdefault("backup_form", BackupForm(formdata=None, data={
        "folder": settings.backup_folder, "keep": settings.backup_keep}))
    forms.setdefault("smtp_form", _smtp_form(settings))
    forms.setdefault("test_form", TestEmailForm(formdata=None))
    forms.setdefault("sending_form", _sending_form(settings))
    target = _target(request.values.get("modelo") or request.form.get("target"))
    forms.setdefault("templates_form", _templates_form(settings, target))
    forms.setdefault("collection_form", _registered_form(CollectionForm))
    forms.setdefault("import_form", _import_form(settings))
    forms.setdefault("retention_form", _registered_form(RetentionForm))
    return render_template("settings/index.html", settings=settings, preview=preview,
                           targets=station_edit.template_targets(db.session), target=target,
                           levels=load_levels(db.session), max_levels=MAX_LEVELS,
                           levels_form=forms.pop("levels_form", LevelsForm(formdata=None)),
                           levels_errors=forms.pop("levels_errors", []),
                           variables=TEMPLATE_VARIABLES, restore_form=ConfirmForm(formdata=None),
                           backup_now_form=ConfirmForm(formdata=None), backup=_backup_status(settings),
                           authorize_form=AuthorizeForm(formdata=None),
                           auth_labels=AUTH_METHOD_LABELS, **forms), status


@bp.route("/")
def index():
    """All the settings forms on one page."""
    return _page()


@bp.route("/smtp", methods=["POST"])
def smtp():
    """Save the SMTP settings; an empty password field keeps the stored password."""
    form = SmtpForm()
    valid = form.validate_on_submit()
    if not (form.check_client_secret(_settings()) and valid):
        flash("Corrija os campos indicados; nada foi salvo.", "error:smtp")
        return _page(400, smtp_form=form)
    oauth = form.auth_method.data != PASSWORD
    values = station_edit.SmtpValues(
        server=form.server.data, port=form.port.data, security=form.security.data,
        user=form.user.data or "", sender_name=form.sender_name.data or "",
        sender_address=form.sender_address.data, reply_to=form.reply_to.data or "",
        bcc=form.bcc.data or "", timeout=form.timeout.data, max_per_minute=form.max_per_minute.data,
        auth_method=form.auth_method.data, oauth_tenant=form.oauth_tenant.data or "",
        oauth_client_id=form.oauth_client_id.data or "")
    try:
        saved = station_edit.save_smtp(
            db.session, current_app.instance_path, values,
            new_password="" if oauth else form.password.data or "",
            forget_password=bool(form.forget_password.data),
            new_client_secret=(form.oauth_client_secret.data or "")
            if form.auth_method.data == GOOGLE else "")
    except station_edit.SmtpSettingsError as exc:
        db.session.rollback()
        getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, str(exc)]
        flash("Corrija os campos indicados; nada foi salvo.", "error:smtp")
        return _page(400, smtp_form=form)
    flash("Configuração SMTP salva.", "success:smtp")
    for note in saved.notes():
        flash(note, "warning:smtp")
    if oauth and not _settings().oauth_refresh_token_encrypted:
        flash("Falta autorizar o envio: clique em Autorizar, logo abaixo.", "warning:smtp")
    return redirect(url_for("settings.index"))


@bp.route("/teste", methods=["POST"])
def test_email():
    """Send a test e-mail with the stored SMTP settings and show the server's answer."""
    form = TestEmailForm()
    if not form.validate_on_submit():
        flash("Corrija o endereço indicado; nada foi enviado.", "error:teste")
        return _page(400, test_form=form)
    try:
        code, reply = send_test_email(
            db.session, form.address.data.strip(), current_app.instance_path, datetime.now(),
            DeliveryOptions.from_config(current_app.config))
    except CannotRun as exc:
        flash(f"E-mail de teste não enviado: {exc}", "error:teste")
    except AuthorizationFailed as exc:
        flash(f"E-mail de teste não enviado: {exc.reply}", "error:teste")
    except SmtpFailure as exc:
        flash(f"E-mail de teste não enviado: {explain_smtp_reply(exc.code, exc.reply) or 'erro'}. "
              f"Resposta do servidor: {exc.code or ''} {exc.reply}", "error:teste")
    except OSError as exc:
        flash(f"Não foi possível falar com o servidor SMTP: {exc}", "error:teste")
    else:
        flash(f"E-mail de teste enviado para {form.address.data.strip()}. Resposta do servidor: "
              f"{code} {reply}", "success:teste")
    return redirect(url_for("settings.index"))


@bp.route("/envio", methods=["POST"])
def sending():
    """Save the sending settings."""
    form = SendingForm()
    if not form.validate_on_submit():
        flash("Corrija os campos indicados; nada foi salvo.", "error:envio")
        return _page(400, sending_form=form)
    station_edit.save_sending(db.session, form.resend_interval_days.data or 0,
                              form.only_overdue.data == "vencidas", bool(form.shift_due_dates.data),
                              form.contact_line.data or "")
    flash("Configurações de envio salvas.", "success:envio")
    return redirect(url_for("settings.index"))


def _save_registered(form: PageForm, form_key: str, section: str, saved: str):
    """Save a form whose fields are registered settings, each checked as `settings set` checks
    it (all or nothing); its errors shown in its ``section``."""
    if not form.validate_on_submit():
        flash("Corrija os campos indicados; nada foi salvo.", f"error:{section}")
        return _page(400, **{form_key: form})
    station_edit.save_registered(db.session, {field.name: field.data or "" for field in form
                                              if field.name in settings_registry.REGISTRY})
    flash(saved, f"success:{section}")
    return redirect(url_for("settings.index"))


@bp.route("/historico", methods=["POST"])
def retention():
    """Save how many days the runs keep the list of the customers they skipped."""
    return _save_registered(RetentionForm(), "retention_form", "historico",
                            "Histórico dos envios salvo.")


@bp.route("/regua", methods=["POST"])
def collection():
    """Save the régua de cobrança settings."""
    return _save_registered(CollectionForm(), "collection_form", "regua",
                            "Régua de cobrança salva.")


@bp.route("/importacao", methods=["POST"])
def importing():
    """Save the import folder, its file pattern and the data age limit."""
    form = ImportForm()
    if not form.validate_on_submit():
        flash("Corrija os campos indicados; nada foi salvo.", "error:importacao")
        return _page(400, import_form=form)
    station_edit.save_import(db.session, form.import_folder.data or "",
                             form.import_pattern.data or "", form.max_data_age_hours.data or 0)
    flash("Configurações de importação salvas.", "success:importacao")
    return redirect(url_for("settings.index"))


@bp.route("/modelos", methods=["POST"])
def templates():
    """Preview or save the templates; a template that does not render is refused, field by field."""
    form = TemplatesForm()
    form.validate_on_submit()
    if not _known(form.target.data):
        form.target.errors = [*form.target.errors, _UNKNOWN_TARGET]
        flash(f"{_UNKNOWN_TARGET} Nada foi salvo.", "error:modelos")
        return _page(400, templates_form=form)
    key = _target(form.target.data)
    templates = Templates(subject=form.subject.data or "", text=form.text.data or "",
                          html=form.html.data or "")
    settings = _settings()
    as_of = date.today()
    samples = station_edit.target_samples(db.session, key, as_of)
    errors: dict[str, str] = {}
    for sample in samples:
        # A part that failed on one sample is not tried again: each try may take the whole
        # rendering budget (a runaway template), and one reason per field is enough.
        pending = Templates(**{kind: "" if kind in errors else getattr(templates, kind)
                               for kind in ("subject", "text", "html")})
        for kind, message in validate_templates(pending, settings, as_of, sample).items():
            errors.setdefault(kind, message)
    for kind, message in errors.items():
        getattr(form, kind).errors = [*getattr(form, kind).errors, message]
    if form.errors or errors:
        flash("Modelo com erro; nada foi salvo.", "error:modelos")
        return _page(400, templates_form=form)
    if request.form.get("action") == "preview":
        subject, text, html = render(samples[-1], settings, as_of, templates)
        return _page(preview={"subject": subject, "text": text, "html": html}, templates_form=form)
    station_edit.save_target_templates(db.session, key, templates)
    flash("Modelos de e-mail salvos.", "success:modelos")
    return redirect(url_for("settings.index", modelo=key))


@bp.route("/modelos/padrao", methods=["POST"])
def restore_templates():
    """"Restaurar padrão": back to the built-in templates (of the set shown)."""
    key = _target(request.form.get("target"))
    if not _known(request.form.get("target")):
        flash(f"{_UNKNOWN_TARGET} Nada foi alterado.", "error:modelos")
    elif ConfirmForm().validate_on_submit():
        station_edit.restore_target(db.session, key)
        flash("Modelos de e-mail restaurados para o padrão.", "success:modelos")
    return redirect(url_for("settings.index", modelo=key))


@bp.route("/niveis", methods=["POST"])
def levels():
    """Save the levels' names and starts (rows with neither are ignored)."""
    form = LevelsForm()
    rows, errors = [], []
    for n in range(1, MAX_LEVELS + 1):
        name = request.form.get(f"nome-{n}", "").strip()
        days = request.form.get(f"dias-{n}", "").strip()
        if not name and not days:
            continue
        start = whole_number(days, 0, 10**MAX_DIGITS)
        if start is None:
            errors.append(f"Nível {n}: dias de atraso inválido '{shown(days)}' (um número inteiro).")
            continue
        rows.append((name, start))
    if form.validate_on_submit() and not errors:
        try:
            station_edit.save_levels(db.session, rows)
        except LevelsInvalid as exc:
            errors = exc.errors
        else:
            flash("Níveis da régua salvos.", "success:niveis")
            return redirect(url_for("settings.index"))
    flash("Corrija os níveis; nada foi salvo.", "error:niveis")
    return _page(400, levels_form=form, levels_errors=errors or ["Formulário expirado; tente de novo."])


@bp.route("/backup", methods=["POST"])
def backup_settings():
    """Save the backup folder (checked by writing to it) and how many backups to keep."""
    form = BackupForm()
    valid = form.validate_on_submit()
    folder = (form.folder.data or "").strip()
    if folder and (problem := backup.check_folder(folder)):
        form.folder.errors = [*form.folder.errors, problem]
        valid = False
    if not valid:
        flash("Corrija os campos indicados; nada foi salvo.", "error:backup")
        return _page(400, backup_form=form)
    station_edit.save_backup_settings(db.session, folder, form.keep.data)
    flash("Configurações de backup salvas.", "success:backup")
    return redirect(url_for("settings.index"))


@bp.route("/backup/agora", methods=["POST"])
def backup_now():
    """"Fazer backup agora": the same backup as the daily task's."""
    if ConfirmForm().validate_on_submit() and backup.sqlite_file(db.engine) is not None:
        try:
            item = backup.take_station_backup(db.session, db.engine, current_app.instance_path,
                                              datetime.now())
        except backup.BackupError as exc:
            flash(f"Backup não feito: {exc}", "error:backup")
        else:
            flash(f"Backup gravado em {item.path}.", "success:backup")
    return redirect(url_for("settings.index"))
