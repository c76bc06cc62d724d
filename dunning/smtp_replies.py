"""What an SMTP server's reply means, in Portuguese, for staff (the raw reply stays beside it).

Decided by the enhanced status code (RFC 3463, "5.1.1") when the reply has one, else by the
reply code, else (no reply at all) by what the sender recorded: a timeout means the server did
not answer, which is not a refusal.
"""
from __future__ import annotations

import re

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

# Enhanced status codes, most specific first: "X.Y.Z" or "X.Y" (class and subject).
_BY_ENHANCED = {
    "5.1.1": "o endereço do destinatário não existe nesse domínio (confira o e-mail do cliente)",
    "5.1.2": "o domínio do endereço do destinatário não existe (confira o e-mail do cliente)",
    "5.1.3": "o endereço do destinatário está mal escrito",
    "5.1.10": "o endereço do destinatário não existe (confira o e-mail do cliente)",
    "5.2.1": "a caixa postal do destinatário está desativada",
    "5.2.2": "a caixa postal do destinatário está cheia",
    "4.2.2": "a caixa postal do destinatário está cheia por enquanto",
    "5.3.4": "a mensagem é grande demais para o servidor",
    "5.7.1": "o servidor recusou por política: remetente não autorizado, suspeita de spam ou "
             "envio para fora não permitido",
    "5.7.8": "o servidor recusou o usuário e a senha",
    "5.7.0": "o servidor recusou por segurança ou política",
    "4.7.0": "o servidor recusou por enquanto, por segurança ou limite de envio",
    "4.7.1": "o servidor recusou por enquanto (lista cinza ou limite de envio)",
    "4.4.2": "a conexão com o servidor caiu",
    "5.1": "há um problema com o endereço do destinatário (confira o e-mail do cliente)",
    "5.2": "há um problema com a caixa postal do destinatário",
    "5.7": "o servidor recusou por segurança ou política",
    "4.2": "a caixa postal do destinatário está indisponível por enquanto",
    "4.4": "problema de rede ou de roteamento no caminho da mensagem",
}
_BY_CODE = {
    421: "o servidor está ocupado ou encerrou a conexão",
    450: "a caixa postal do destinatário está indisponível por enquanto",
    451: "o servidor teve um problema passageiro",
    452: "o servidor está sem espaço ou no limite de envio por enquanto",
    530: "o servidor exige usuário e senha (autenticação)",
    534: "o servidor exige outro método de autenticação (senha de aplicativo ou OAuth)",
    535: "o servidor recusou o usuário e a senha",
    550: "o servidor recusou a mensagem para esse endereço (caixa inexistente ou bloqueio)",
    551: "o destinatário não é atendido por esse servidor",
    552: "a caixa postal do destinatário está cheia ou a mensagem é grande demais",
    553: "o servidor não aceita esse endereço (mal escrito ou não permitido)",
    554: "o servidor recusou a mensagem (possível bloqueio anti-spam)",
}
_TIMEOUT = re.compile(r"tempo esgotado|timed? ?out", re.IGNORECASE)
_NO_CONNECTION = re.compile(r"sem conexão|conexão perdida|connection|refused|recusad[ao] pelo "
                            r"sistema|unreachable", re.IGNORECASE)


def explain(code: int | None, reply: str) -> str:
    """One pt-BR sentence for ``code``/``reply`` ('' when there is nothing to explain)."""
    if not code and not reply:
        return ""
    if not code:
        if _TIMEOUT.search(reply):
            return "o servidor não respondeu a tempo (não é uma recusa; nova tentativa depois)"
        if "depois do envio da mensagem" in reply:
            return ("a conexão caiu depois que a mensagem foi transmitida: não se sabe se o "
                    "servidor a aceitou")
        if _NO_CONNECTION.search(reply):
            return "não foi possível falar com o servidor (rede, endereço ou porta)"
        return ""
    enhanced = _ENHANCED.search(reply or "")
    if enhanced:
        full = ".".join(enhanced.groups())
        short = ".".join(enhanced.groups()[:2])
        for key in (full, short):
            if key in _BY_ENHANCED:
                return _with_outcome(code, _BY_ENHANCED[key])
    if code in _BY_CODE:
        return _with_outcome(code, _BY_CODE[code])
    if 400 <= code < 500:
        return _with_outcome(code, "o servidor recusou por enquanto")
    if 500 <= code < 600:
        return _with_outcome(code, "o servidor recusou de vez")
    if 200 <= code < 300:
        return "aceita pelo servidor"
    return ""


def _with_outcome(code: int, text: str) -> str:
    """The explanation plus what happens next, by the reply's class."""
    if 400 <= code < 500:
        return f"{text}; nova tentativa depois"
    if 500 <= code < 600 and code not in (530, 534, 535):
        return f"{text}; não adianta tentar de novo sem corrigir"
    return text
