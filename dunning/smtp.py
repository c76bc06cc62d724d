"""One SMTP connection for a batch, built from the station's settings at the moment of sending.

smtplib directly, not Flask-Mail: Flask-Mail reads its configuration once at start-up, and the
run needs control Flask-Mail does not give: a timeout on every operation, telling "refused" from
"maybe delivered" (a connection lost after the message was transmitted), reconnecting after a
421, and the per-minute cap.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from email.utils import formataddr, formatdate, make_msgid
from typing import Callable

from dunning.addresses import is_valid_email
from dunning.crypto import decrypt_secret
from dunning.oauth import REAUTHORIZE, AuthorizationRevoked, ProviderUnreachable, xoauth2_string
from dunning.statement import clean_header

SECURITY_CHOICES = ("none", "starttls", "ssl")
# A password may only travel without encryption to a server on this very PC.
CLEARTEXT_REFUSED = ("Segurança \"Nenhuma\" com usuário e senha só é aceita para um servidor neste "
                     "computador (127.0.0.1 ou localhost): a senha passaria pela rede sem "
                     "criptografia. Use STARTTLS ou SSL/TLS.")
# Nor may an OAuth 2.0 access token (whoever reads it can send as the mailbox until it expires).
CLEARTEXT_TOKEN_REFUSED = ("Segurança \"Nenhuma\" com OAuth 2.0 só é aceita para um servidor neste "
                           "computador (127.0.0.1 ou localhost): o token de acesso passaria pela "
                           "rede sem criptografia. Use STARTTLS ou SSL/TLS.")


def is_local_host(host: str) -> bool:
    """Whether ``host`` names this PC (localhost, 127.0.0.0/8, ::1)."""
    name = (host or "").strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
_EOLS = re.compile(rb"\r\n|\n|\r")


class SmtpFailure(Exception):
    """The server (or the network) did not take a message; ``code`` is None without a reply."""

    def __init__(self, code: int | None, reply: str):
        super().__init__(f"{code} {reply}" if code else reply)
        self.code = code
        self.reply = reply


class TemporaryFailure(SmtpFailure):
    """4xx, timeout or connection lost before the message was complete: try again later."""


class PermanentFailure(SmtpFailure):
    """5xx: the server refused this message or its recipients; retrying will not help."""


class MaybeDelivered(SmtpFailure):
    """The connection failed after the whole message was transmitted: it may have been accepted."""


class RunStopped(SmtpFailure):
    """Nothing can be sent with these settings (credentials refused, TLS impossible)."""


class AuthenticationFailed(RunStopped):
    """The server refused the user and password (535): stop at once, do not lock the account."""


class AuthorizationFailed(RunStopped):
    """OAuth 2.0 sign-in no longer works: the provider refused to refresh the token
    (``invalid_grant``) or the SMTP server refused the access token. Staff must authorize again."""


@dataclass(frozen=True)
class SmtpConfig:
    """What a connection and a message header need, read from the settings at send time."""

    host: str
    port: int
    security: str = "starttls"
    user: str = ""
    password: str = ""
    timeout: float = 60
    sender_address: str = ""
    sender_name: str = ""
    reply_to: str = ""
    bcc: str = ""
    max_per_minute: int | None = None
    # OAuth 2.0 sign-in (XOAUTH2): a dunning.oauth.TokenSource; None = user and password.
    tokens: object | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings, instance_path, tokens=None) -> SmtpConfig:
        """The stored settings (a StationSettings row), the password decrypted only now;
        ``tokens`` signs in with OAuth 2.0 instead of the password."""
        return cls(host=settings.smtp_server, port=settings.smtp_port,
                   security=settings.smtp_security or "starttls", user=settings.smtp_user or "",
                   password="" if tokens else decrypt_secret(instance_path,
                                                             settings.smtp_password_encrypted),
                   timeout=settings.smtp_timeout or 60, sender_address=settings.sender_address,
                   sender_name=settings.sender_name or "", reply_to=settings.reply_to or "",
                   bcc=settings.bcc or "", max_per_minute=settings.max_per_minute or None,
                   tokens=tokens)

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its Subject and Message-ID (for the outbox) and its bytes."""

    subject: str
    message_id: str
    raw: bytes


def build_message(config: SmtpConfig, to: list[str], to_name: str, subject: str, text: str,
                  html: str) -> Outgoing:
    """A multipart/alternative UTF-8 message; every header value is stripped of CR/LF.

    Written out directly (quoted-printable through binascii) rather than with
    ``email.message.EmailMessage``, which costs ~7 ms per message: more than the SMTP exchange.
    """
    subject = clean_header(subject)
    name = clean_header(to_name)
    message_id = make_msgid(domain=config.sender_domain)
    headers = [
        ("Subject", _encoded_header(subject)),
        ("From", formataddr((clean_header(config.sender_name),
                             ascii_address(config.sender_address) or config.sender_address))),
        ("To", _to_header(to, name)),
        *([("Reply-To", ascii_address(config.reply_to))] if ascii_address(config.reply_to)
          else []),
        ("Date", formatdate(localtime=True)),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834: no vacation auto-replies
        ("Content-Language", "pt-BR"),
        ("MIME-Version", "1.0"),
    ]
    boundary = f"=_{secrets.token_hex(16)}"
    # Values are clean already: names and subject through clean_header, addresses validated.
    head = "".join(f"{key}: {value}\r\n" for key, value in headers)
    parts = [head.encode("ascii"),
             f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()]
    for subtype, body in (("plain", text), ("html", html)):
        parts.append(f"--{boundary}\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\n"
                     f"Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode())
        parts.append(_quoted_printable(body))
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return Outgoing(subject, message_id, b"".join(parts))


def _to_header(to: list[str], clean_name: str) -> str:
    """The To header's value: every address (IDNA domain) under the customer's name."""
    return (",\r\n ".join(formataddr((clean_name, address))
                          for address in map(ascii_address, to) if address)
            or "undisclosed-recipients:;")


def readdress(raw: bytes, to: list[str], to_name: str) -> bytes:
    """``raw`` (a message build_message wrote) with its To header naming ``to`` instead: the same
    reminder, for the addresses on file now. Everything else, the Message-ID included, stays."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines, in_to = [], False
    for line in head.split(b"\r\n"):
        if in_to and line[:1] in (b" ", b"\t"):  # a folded continuation of the old To
            continue
        in_to = line[:3].lower() == b"to:"
        lines.append(b"To: " + _to_header(to, clean_header(to_name)).encode("ascii")
                     if in_to else line)
    return b"\r\n".join(lines) + b"\r\n\r\n" + rest


def _wire_format(message: bytes) -> bytes:
    """CRLF line ends, leading dots doubled (RFC 5321 4.5.2), the final dot: DATA's payload.

    build_message writes CRLF already, so the regular expression is only a fallback.
    """
    crlf = message.count(b"\r\n")
    if message.count(b"\n") != crlf or message.count(b"\r") != crlf:
        message = _EOLS.sub(b"\r\n", message)
    payload = message.replace(b"\r\n.", b"\r\n..")
    if payload.startswith(b"."):
        payload = b"." + payload
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + b".\r\n"


@lru_cache(maxsize=256)  # one subject per creditor: the same few thousands of times a run
def _encoded_header(value: str) -> str:
    """ASCII as is; anything else as RFC 2047 base64 encoded words, one per folded line.

    Written out here because email.header costs ~1 ms per subject; chunks end on whole
    characters, as RFC 2047 requires.
    """
    if value.isascii():
        return value
    words, chunk = [], b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:  # 45 bytes -> 60 base64 chars: a 75-char word
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _quoted_printable(body: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends (binascii does it in C)."""
    normalised = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(normalised, istext=True).replace(b"\n", b"\r\n")


def _text(reply) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


class Throttle:
    """At most ``per_minute`` sends in any 60-second window (None = no cap)."""

    def __init__(self, per_minute: int | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()

    def wait(self) -> None:
        """Block until one more message may go out, then count it."""
        if not self.per_minute:
            return
        now = self.clock()
        while self._sent and now - self._sent[0] >= 60:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            self.sleep(60 - (now - self._sent[0]))
            self._sent.popleft()
            now = self.clock()
        self._sent.append(now)


class Mailer:
    """One connection for the batch; reconnects on the next send after a drop or a 421."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(self) -> None:
        """Open, secure and authenticate; raises RunStopped, PermanentFailure or TemporaryFailure."""
        cfg = self.config
        if not ascii_address(cfg.sender_address):
            raise RunStopped(None, "O endereço do remetente tem acentos ou caracteres especiais "
                                   "antes do @; configure um endereço só com letras sem acento.")
        if cfg.security == "none" and not is_local_host(cfg.host):
            if cfg.tokens is not None:
                raise RunStopped(None, CLEARTEXT_TOKEN_REFUSED)
            if cfg.user:
                raise RunStopped(None, CLEARTEXT_REFUSED)
        context = ssl.create_default_context()
        conn = None
        try:
            if cfg.security == "ssl":
                conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if cfg.tokens is not None:
                _xoauth2(conn, cfg.user, cfg.tokens)
            elif cfg.user:
                _login(conn, cfg.user, cfg.password)
        except AuthorizationRevoked as exc:
            _quietly_close(conn)
            raise AuthorizationFailed(None, f"{exc} {REAUTHORIZE}") from exc
        except ProviderUnreachable as exc:
            _quietly_close(conn)
            raise TemporaryFailure(None, str(exc)) from exc
        except smtplib.SMTPAuthenticationError as exc:
            _quietly_close(conn)
            if cfg.tokens is not None and exc.smtp_code < 500:
                raise TemporaryFailure(exc.smtp_code, _text(exc.smtp_error)) from exc
            if cfg.tokens is not None:
                reply = f"O servidor SMTP recusou o token OAuth 2.0 ({exc.smtp_code} " \
                        f"{_text(exc.smtp_error)})."
                cfg.tokens.refused(reply)
                raise AuthorizationFailed(exc.smtp_code, f"{reply} {REAUTHORIZE}") from exc
            raise AuthenticationFailed(exc.smtp_code, _text(exc.smtp_error)) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _quietly_close(conn)
            raise RunStopped(None, f"O servidor não oferece o recurso necessário: {exc}") from exc
        except (ssl.SSLError, ssl.CertificateError) as exc:
            _quietly_close(conn)
            raise RunStopped(None, f"Falha na conexão segura (TLS/SSL): {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            _quietly_close(conn)
            failure = TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
            raise failure(exc.smtp_code, _text(exc.smtp_error)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            raise TemporaryFailure(None, f"Sem conexão com {cfg.host}:{cfg.port}: "
                                         f"{_describe(exc)}") from exc
        self._conn = conn

    def ensure_connected(self) -> None:
        """Connect unless the batch's connection is still open. With OAuth 2.0, a connection
        signed in with a token about to expire is replaced (SMTP cannot sign in again on the
        same connection, and the server may end a session whose token has expired)."""
        if self._conn is not None and self.config.tokens is not None \
                and self.config.tokens.expiring():
            self.close()
        if self._conn is None:
            self.connect()

    def close(self) -> None:
        """Say QUIT if the connection is still up; never raises."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(conn)

    def send(self, recipients: list[str], message: bytes,
             bcc: list[str] | None = None) -> tuple[int, str, dict[str, str]]:
        """Hand ``message`` to the server: (code, reply, refused recipients) when accepted.

        Raises TemporaryFailure, PermanentFailure, MaybeDelivered or RunStopped.
        """
        self.ensure_connected()
        conn = self._conn
        try:
            self._check(conn.mail(ascii_address(self.config.sender_address)))
            refused: dict[str, str] = {}
            for address in recipients:
                if not ascii_address(address):
                    refused[address] = NON_ASCII_REFUSAL
                    continue
                code, reply = conn.rcpt(ascii_address(address))
                if code == 421:
                    self._check((code, reply))
                if code not in (250, 251):
                    refused[address] = f"{code} {_text(reply)}"
            if len(refused) == len(recipients):
                self._reset()
                code, reply = _worst(refused)
                failure = TemporaryFailure if code is not None and code < 500 else PermanentFailure
                raise failure(code, reply)
            for address in filter(None, map(ascii_address, bcc or [])):
                conn.rcpt(address)  # a refused copy to the station must not stop the message
            code, reply = self._data(conn, message)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise TemporaryFailure(None, f"Conexão perdida: {_describe(exc)}") from exc
        return code, reply, refused

    def _data(self, conn: smtplib.SMTP, message: bytes) -> tuple[int, str]:
        """DATA, split so that a failure after the final dot is told apart (maybe delivered)."""
        conn.putcmd("data")
        self._check(conn.getreply(), expect=354)
        conn.send(_wire_format(message))
        try:
            code, reply = conn.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise MaybeDelivered(None, f"Conexão perdida depois do envio da mensagem, antes da "
                                       f"confirmação do servidor: {_describe(exc)}") from exc
        self._check((code, reply))
        return code, _text(reply)

    def _check(self, response: tuple[int, bytes | str], expect: int | None = None) -> None:
        """Turn a non-success reply into a failure, leaving the connection usable when it is."""
        code, reply = response
        if (code == expect) if expect else (200 <= code < 300):
            return
        if code == 421:  # the server is closing the channel (smtplib closes it too)
            self._drop()
            raise TemporaryFailure(code, _text(reply))
        self._reset()
        if 400 <= code < 500:
            raise TemporaryFailure(code, _text(reply))
        raise PermanentFailure(code, _text(reply))

    def _reset(self) -> None:
        """RSET after a refusal, so the next message starts clean; drop the connection if it fails."""
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        _quietly_close(conn)


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """Authenticate with ONE mechanism: smtplib's login() tries each advertised mechanism in
    turn, and two refusals per run bring an account closer to a lock-out."""
    advertised = conn.esmtp_features.get("auth", "").upper().split()
    for mechanism in ("PLAIN", "LOGIN"):
        if mechanism in advertised:
            conn.user, conn.password = user, password
            conn.auth(mechanism, getattr(conn, f"auth_{mechanism.lower()}"))
            return
    conn.login(user, password)


def _xoauth2(conn: smtplib.SMTP, user: str, tokens) -> None:
    """SASL XOAUTH2 with a fresh access token, sent as the initial response. On a refused token
    the server first sends a 334 with a base64 JSON error; the client answers with an empty line
    and the server then replies 535, which smtplib raises as SMTPAuthenticationError."""
    advertised = conn.esmtp_features.get("auth", "").upper().split()
    if "XOAUTH2" not in advertised:
        raise smtplib.SMTPNotSupportedError(
            "o servidor não oferece autenticação OAuth 2.0 (AUTH XOAUTH2); confira o servidor e a "
            "segurança (STARTTLS, porta 587)")
    initial = xoauth2_string(user, tokens.access_token())
    conn.auth("XOAUTH2", lambda challenge=None: initial if challenge is None else "",
              initial_response_ok=True)


def _worst(refused: dict[str, str]) -> tuple[int | None, str]:
    """The reply that decides a refusal of every recipient: a 4xx anywhere makes it temporary."""
    replies = [(int(value[:3]), value[4:]) if value[:3].isdigit() else (None, value)
               for value in refused.values()]
    temporary = [r for r in replies if r[0] is not None and r[0] < 500]
    return (temporary or replies)[0]


NON_ASCII_REFUSAL = ("endereço com acentos ou outros caracteres especiais antes do @: não "
                     "enviado (o envio só usa endereços ASCII)")


@lru_cache(maxsize=4096)
def ascii_address(address: str) -> str:
    """The address as the SMTP envelope and headers carry it: a non-ASCII domain in IDNA form;
    '' when the part before the @ is not ASCII (that needs SMTPUTF8, which this sender does not
    use)."""
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return ""
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return ""


def usable_address(address: str) -> bool:
    """Whether this sender can put ``address`` in From, Reply-To or Bcc: valid syntax, and ASCII
    before the @ (a non-ASCII domain goes out in IDNA form)."""
    return is_valid_email(address) and bool(ascii_address(address))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "tempo esgotado"
    return str(exc) or type(exc).__name__


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass
