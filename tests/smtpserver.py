"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1) that records messages and can misbehave.

``server.script(address, "451 4.7.1 Tente mais tarde", times=2)`` makes the server answer RCPT TO
for ``address`` with that reply the next two times; ``stage="data"`` answers at the end of DATA
instead, ``stage="mail"`` at MAIL FROM (any address); a 421 reply also closes the connection.
Reply ``"DROP"`` at stage data closes the connection without replying. ``server.delay = 2``
makes every DATA take two seconds (a slow server). With ``tls=True`` the server requires STARTTLS and AUTH (user ``station``, password ``s3cret``) with a self-signed certificate
generated here; point ``SSL_CERT_FILE`` at ``server.cafile`` so that the client trusts it.
``bearer=check`` (with ``tls=True``) also offers AUTH XOAUTH2, accepting a login only when
``check(user, access_token)`` is true; a refused token gets the 334 JSON error challenge first,
then 535, as Google and Microsoft answer.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

USER = "station"
PASSWORD = "s3cret"


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=default_policy)


@dataclass
class _Rule:
    stage: str
    address: str | None
    reply: str
    times: int


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    delay: float = 0.0
    data_started: int = 0
    peers: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _scripted(self, stage: str, addresses: list[str] | None) -> str | None:
        with self.lock:
            for rule in self.rules:
                if rule.stage == stage and rule.times > 0 and (
                        rule.address is None or addresses is None or rule.address in addresses):
                    rule.times -= 1
                    return rule.reply
        return None

    @staticmethod
    def _answer(server, reply: str) -> str:
        if reply.startswith("421"):
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return reply

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.peers.add(session.peer)  # one per TCP connection (EHLO repeats after STARTTLS)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self._scripted("mail", None)
        if reply:
            return self._answer(server, reply)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._scripted("rcpt", [address])
        if reply:
            return self._answer(server, reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_started += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self._scripted("data", envelope.rcpt_tos)
        if reply == "DROP":  # the connection dies after the message, before the reply
            server.transport.close()
            return "250 never seen"
        if reply:
            return self._answer(server, reply)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content))
        return "250 2.0.0 Ok: queued"


class _OAuthHandler(_Handler):
    """The handler plus the XOAUTH2 mechanism (aiosmtpd offers every ``auth_*`` method)."""

    bearer = None           # check(user, token) -> bool
    xoauth2: list = None    # (user, token, accepted) of every attempt

    async def auth_XOAUTH2(self, server, args):
        blob = args[1].encode() if len(args) > 1 else await server.challenge_auth("")
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        if len(args) > 1:
            try:
                blob = base64.b64decode(blob, validate=True)
            except ValueError:
                return AuthResult(success=False, message="501 5.5.2 Cannot decode response")
        fields = dict(part.split("=", 1) for part in blob.decode("utf-8", "replace").split("\x01")
                      if "=" in part)
        user, _, token = fields.get("user", ""), *fields.get("auth", "").partition("Bearer ")[1:]
        accepted = bool(token) and self.bearer(user, token)
        with self.lock:
            self.xoauth2.append((user, token, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer",
                                                "scope": "https://mail.google.com/"}))
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd replies 535


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1: (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class SmtpServer:
    """A running aiosmtpd server and what it has received."""

    host = "127.0.0.1"

    def __init__(self, folder: Path, tls: bool = False, implicit_tls: bool = False,
                 bearer=None):
        self.handler = _OAuthHandler() if bearer else _Handler()
        if bearer:
            self.handler.bearer, self.handler.xoauth2 = bearer, []
        self.port = free_port()
        self.tls = tls or implicit_tls
        self.implicit_tls = implicit_tls
        self.cafile: Path | None = None
        kwargs = {}
        if self.tls:
            self.cafile, key_file = make_certificate(folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cafile, key_file)
            kwargs = dict(auth_required=True, authenticator=_authenticator)
            if implicit_tls:  # "SSL/TLS" on connect, as on port 465
                kwargs.update(ssl_context=context, auth_require_tls=False)
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(self.handler, hostname=self.host, port=self.port,
                                     server_hostname="localhost", ready_timeout=10, **kwargs)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def connections(self) -> int:
        """How many TCP connections have greeted the server."""
        with self.handler.lock:
            return len(self.handler.peers)

    @property
    def delay(self) -> float:
        return self.handler.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.handler.delay = seconds

    @property
    def xoauth2_attempts(self) -> list[tuple[str, str, bool]]:
        """Every XOAUTH2 sign-in: (user, access token, accepted)."""
        with self.handler.lock:
            return list(self.handler.xoauth2 or [])

    def script(self, address: str | None, reply: str, times: int = 1, stage: str = "rcpt") -> None:
        """Answer ``reply`` for ``address`` at ``stage`` (rcpt, mail or data), ``times`` times."""
        with self.handler.lock:
            self.handler.rules.append(_Rule(stage, address, reply, times))

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]

    def wait_for(self, condition, timeout: float = 10.0) -> None:
        """Poll ``condition(self)`` until true (for tests that race a subprocess)."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met")
            time.sleep(0.02)

    def settings(self, **overrides) -> dict:
        """StationSettings fields that point a station at this server."""
        values = dict(smtp_server=self.host, smtp_port=self.port,
                      smtp_security="ssl" if self.implicit_tls else (
                          "starttls" if self.tls else "none"),
                      smtp_user=USER if self.tls else "", sender_name="Auto Posto Teste",
                      sender_address="cobranca@posto.example.com", smtp_timeout=10)
        values.update(overrides)
        return values


def configure_station(session, server: SmtpServer, instance_path, password: str = PASSWORD,
                      **overrides):
    """Store settings pointing the station at ``server`` (password encrypted), committed."""
    from dunning.crypto import encrypt_secret
    from models import StationSettings

    settings = StationSettings.load(session)
    for name, value in server.settings(**overrides).items():
        setattr(settings, name, value)
    settings.smtp_password_encrypted = encrypt_secret(instance_path, password) if server.tls else ""
    session.commit()
    return settings
