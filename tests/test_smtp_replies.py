"""SMTP replies explained in Portuguese (issue 10 item 18), beside the raw reply, against a real
server: a timeout is "não respondeu", never "recusou"; a 550 5.1.1 says the address does not
exist; the test e-mail, Envios, the Painel and the terminal all say it."""
from __future__ import annotations

import pytest

from dunning.delivery import DeliveryOptions, run
from dunning.smtp_replies import explain
from smtpserver import configure_station
from test_delivery import AS_OF, FAST, load_customers


@pytest.mark.parametrize("code, reply, expected", [
    (None, "Sem conexão com 127.0.0.1:25: tempo esgotado", "o servidor não respondeu a tempo"),
    (None, "Conexão perdida: tempo esgotado", "o servidor não respondeu a tempo"),
    (None, "Sem conexão com 127.0.0.1:25: [Errno 111] Connection refused",
     "não foi possível falar com o servidor"),
    (550, "5.1.1 <x@y>: Recipient address rejected", "o endereço do destinatário não existe"),
    (550, "Mailbox unavailable", "recusou a mensagem para esse endereço"),
    (552, "5.2.2 Mailbox full", "caixa postal do destinatário está cheia"),
    (451, "4.7.1 Greylisted, try later", "recusou por enquanto"),
    (421, "Service not available", "ocupado ou encerrou a conexão; nova tentativa depois"),
    (535, "5.7.8 Authentication credentials invalid", "recusou o usuário e a senha"),
    (599, "Something odd", "recusou de vez"),
])
def test_explanations(code, reply, expected):
    assert expected in explain(code, reply)
    assert "recusou" not in explain(None, "tempo esgotado")


def test_envios_painel_and_terminal_explain_the_reply_beside_it(app, session, smtp_server, staff,
                                                               runner):
    load_customers(session, 2)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("c2@cliente.example.com", "550 5.1.1 User unknown", times=9)
    app.config.update(SMTP_BACKOFF=0.01)

    result = runner.invoke(args=["email-pendencia-financeira", "--date", AS_OF.isoformat()])

    assert ("C02 c2@cliente.example.com: recusado pelo servidor — o endereço do destinatário não "
            "existe nesse domínio (confira o e-mail do cliente); não adianta tentar de novo sem "
            "corrigir (550 5.1.1 User unknown)") in result.output
    page = staff.get("/envios/1").get_data(as_text=True)
    assert "o endereço do destinatário não existe" in page
    assert "Resposta do servidor: 550 5.1.1 User unknown" in page
    painel = staff.get("/").get_data(as_text=True)
    assert "o endereço do destinatário não existe" in painel and "550 5.1.1 User unknown" in painel


def test_a_server_that_does_not_answer_is_not_said_to_refuse(app, session, staff, tmp_path):
    """A listening socket that never answers: the test e-mail times out."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        from smtpserver import SmtpServer
        server = SmtpServer(tmp_path)  # only for its settings(); not started
        server.port = silent.getsockname()[1]
        configure_station(session, server, app.instance_path, smtp_timeout=1)
        html = staff.post("/configuracoes/teste", data={"address": "voce@posto.com.br"},
                          follow_redirects=True).get_data(as_text=True)
    finally:
        silent.close()
    assert "E-mail de teste não enviado: o servidor não respondeu a tempo" in html
    assert "recusou" not in html
