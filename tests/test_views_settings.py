"""Configurações: SMTP with a write-only password, the test e-mail, sending settings, templates."""
from __future__ import annotations

from dunning.crypto import decrypt_secret
from models import StationSettings, db

SMTP = {"server": "127.0.0.1", "port": "2525", "security": "none", "user": "posto",
        "password": "senha-smtp-123", "sender_name": "Auto Posto Estrela",
        "sender_address": "cobranca@posto.com.br", "reply_to": "", "bcc": "", "timeout": "10",
        "max_per_minute": ""}


def _settings(app):
    with app.app_context():
        row = StationSettings.load(db.session)
        db.session.expunge(row)
        return row


def test_smtp_password_is_write_only(staff, app):
    response = staff.post("/configuracoes/smtp", data=SMTP)
    assert response.status_code == 302
    row = _settings(app)
    assert row.smtp_server == "127.0.0.1" and row.smtp_port == 2525 and row.smtp_security == "none"
    assert "senha-smtp-123" not in row.smtp_password_encrypted
    assert decrypt_secret(app.instance_path, row.smtp_password_encrypted) == "senha-smtp-123"
    html = staff.get("/configuracoes/").get_data(as_text=True)
    assert "senha-smtp-123" not in html and row.smtp_password_encrypted not in html
    assert "Há uma senha gravada" in html and 'value="cobranca@posto.com.br"' in html
    # An empty password field keeps the stored one.
    staff.post("/configuracoes/smtp", data={**SMTP, "password": "", "sender_name": "Posto"})
    row2 = _settings(app)
    assert row2.sender_name == "Posto"
    assert decrypt_secret(app.instance_path, row2.smtp_password_encrypted) == "senha-smtp-123"
    staff.post("/configuracoes/smtp", data={**SMTP, "password": "", "forget_password": "y"})
    assert _settings(app).smtp_password_encrypted == ""


def test_smtp_validation_errors(staff, app):
    response = staff.post("/configuracoes/smtp", data={**SMTP, "server": "", "port": "99999",
                                                        "sender_address": "sem-arroba"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Informe o servidor" in html and "Porta entre 1 e 65535" in html and "E-mail inválido" in html
    assert "senha-smtp-123" not in html                      # not even the one just typed
    assert _settings(app).smtp_server == ""


def test_smtp_refuses_addresses_the_sender_cannot_use(staff, app):
    response = staff.post("/configuracoes/smtp", data={**SMTP, "sender_address": "joão@posto.com.br",
                                                        "bcc": "copia@posto..com"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and html.count("E-mail inválido (sem acentos antes do @)") == 2
    assert _settings(app).sender_address == ""


def test_send_test_email(staff, app, smtp_server):
    staff.post("/configuracoes/smtp", data={**SMTP, "port": str(smtp_server.port), "user": "",
                                            "password": ""})
    response = staff.post("/configuracoes/teste", data={"address": "gerente@posto.com.br"},
                          follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "E-mail de teste enviado para gerente@posto.com.br" in html and "250" in html
    assert smtp_server.received[0].rcpt_tos == ["gerente@posto.com.br"]


def test_send_test_email_without_smtp(staff):
    html = staff.post("/configuracoes/teste", data={"address": "gerente@posto.com.br"},
                      follow_redirects=True).get_data(as_text=True)
    assert "E-mail de teste não enviado" in html and "não está configurado" in html
    bad = staff.post("/configuracoes/teste", data={"address": "x"})
    assert bad.status_code == 400 and "E-mail inválido" in bad.get_data(as_text=True)


def test_sending_settings(staff, app):
    response = staff.post("/configuracoes/envio", data={
        "resend_interval_days": "3", "only_overdue": "vencidas", "contact_line": "Fone (61) 3333-4444"})
    assert response.status_code == 302
    row = _settings(app)
    assert row.resend_interval_days == 3 and row.only_overdue is True
    assert row.shift_due_dates is False and row.contact_line == "Fone (61) 3333-4444"
    bad = staff.post("/configuracoes/envio", data={"resend_interval_days": "-1", "only_overdue": "todas"})
    assert bad.status_code == 400 and "Entre 0 e 365 dias" in bad.get_data(as_text=True)
    assert _settings(app).resend_interval_days == 3


def test_templates_preview_save_and_restore(staff, app):
    page = staff.get("/configuracoes/").get_data(as_text=True)
    assert "Pendências financeiras em aberto" in page            # the default subject is shown
    # CDC art. 42-A: the creditor's name, CNPJ and address, and the invoices, in every message.
    creditor = ("{% for c in companies %}{{ c.name }} {{ c.tax_id }} {{ c.address }}"
                "{% for i in c.invoices %} {{ i.document }}{% endfor %}{% endfor %}")
    form = {"subject": "Aviso {{ reminder.customer_name }}",
            "text": "Olá {{ reminder.customer_name }} " + creditor,
            "html": "<p>Olá <b>{{ reminder.customer_name }}</b></p>" + creditor}
    preview = staff.post("/configuracoes/modelos", data={**form, "action": "preview"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Aviso Transportadora Exemplo" in html and "<iframe sandbox srcdoc=" in html
    assert "&lt;p&gt;Olá &lt;b&gt;Transportadora Exemplo" in html   # escaped into srcdoc
    assert _settings(app).subject_template == ""                     # preview saves nothing
    assert staff.post("/configuracoes/modelos", data={**form, "action": "save"}).status_code == 302
    assert _settings(app).subject_template == form["subject"]
    bad = staff.post("/configuracoes/modelos", data={**form, "text": "{{ nao_existe }}", "action": "save"})
    assert bad.status_code == 400 and "O modelo não pode ser usado" in bad.get_data(as_text=True)
    assert _settings(app).text_template == form["text"]
    assert staff.post("/configuracoes/modelos/padrao").status_code == 302
    row = _settings(app)
    assert (row.subject_template, row.text_template, row.html_template) == ("", "", "")
