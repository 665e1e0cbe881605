"""Real servers on loopback for the email tests: aiosmtpd (plain, STARTTLS, implicit TLS,
AUTH, XOAUTH2) with certificates from trustme, and Dovecot for IMAP.

Dovecot runs unprivileged on a free loopback port with a throwaway configuration (providers.md
section 10): one user ``alice`` with the password ``secret``, Maildir under a temporary
directory. Run as root (CI), its login and mail processes use Debian's ``dovenull`` and
``dovecot`` users, since Dovecot refuses to serve logins as root. Tests that need it are
skipped, with the reason, where ``dovecot`` is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "mailer"
PASSWORD = "smtp-password-0123456789"
TOKEN = "ya29.oauth-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str]


class RecordingHandler:
    """Records every message; refuses ``refused@...`` (550) and ``busy@...`` (451) at RCPT;
    ``data_reply`` (when set) answers DATA instead of 250; ``drop_after_data`` closes the
    connection once the message arrived, before answering."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.sessions: list[SMTP] = []
        self.data_reply: str | None = None
        self.drop_after_data = False
        self.xoauth2: list[str] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local = address.split("@")[0].lower()
        if local == "refused":
            return "550 5.1.1 no such user"
        if local == "busy":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.sessions.append(server)
        if self.drop_after_data:
            assert server.transport is not None
            server.transport.abort()
            return "250 OK"
        if self.data_reply:
            return self.data_reply
        self.received.append(
            Received(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or b""),
                list(envelope.mail_options),
            )
        )
        return "250 2.0.0 queued"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        decoded = base64.b64decode(args[1]).decode()
        self.xoauth2.append(decoded)
        expected = f"user={USERNAME}\x01auth=Bearer {TOKEN}\x01\x01"
        return AuthResult(success=decoded == expected, handled=False)


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    if isinstance(data, LoginPassword):
        return AuthResult(
            success=(data.login, data.password) == (USERNAME.encode(), PASSWORD.encode()),
            handled=False,
        )
    return AuthResult(success=False, handled=False)


@attrs.define
class SmtpServer:
    controller: Controller
    handler: RecordingHandler
    port: int
    ca_file: str | None = None
    username: str = USERNAME
    password: str = PASSWORD
    token: str = TOKEN


@pytest.fixture(scope="session")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def smtp_server(
    request: pytest.FixtureRequest, certificate_authority: tuple[trustme.CA, str]
) -> Iterator[SmtpServer]:
    """aiosmtpd on loopback; ``@pytest.mark.smtp(mode=..., auth=...)`` picks plain, starttls or
    tls, and whether AUTH is required."""
    marker = request.node.get_closest_marker("smtp")
    options = dict(marker.kwargs) if marker else {}
    mode, auth = options.get("mode", "plain"), options.get("auth", False)
    ca, ca_file = certificate_authority
    handler = RecordingHandler()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        kwargs["tls_context"] = _server_context(ca)
        kwargs["require_starttls"] = True
    if mode == "tls":
        kwargs["ssl_context"] = _server_context(ca)
    if auth:
        kwargs["authenticator"] = authenticate
        # aiosmtpd counts only STARTTLS as TLS for these checks, not an implicit-TLS listener.
        kwargs["auth_required"] = mode == "starttls"
        kwargs["auth_require_tls"] = mode == "starttls"
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(controller, handler, port, ca_file if mode != "plain" else None)
    finally:
        controller.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smtp(mode, auth): how the smtp_server fixture runs")


# -- Dovecot ------------------------------------------------------------------------------------

DOVECOT_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
first_valid_uid = 1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@attrs.define
class Dovecot:
    root: Path
    config: Path
    port: int
    user: str = "alice"
    password: str = "secret"

    def doveadm(self, *args: str) -> str:
        done = subprocess.run(
            ["doveadm", "-c", str(self.config), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # a subprocess coming up, not a test's clock
    raise RuntimeError(f"dovecot did not listen on {port}")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A throwaway Dovecot on a loopback port (skipped where Dovecot is not installed)."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None or (
        shutil.which("doveadm") is None and not Path("/usr/bin/doveadm").exists()
    ):
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
    # Not pytest's tmp_path: run as root, Dovecot's own users must reach the directory, and
    # pytest keeps its base directory private.
    root = Path(tempfile.mkdtemp(prefix="omni-dovecot-"))
    root.chmod(0o755)
    (root / "home").mkdir(parents=True)
    (root / "passwd").write_text("alice:{PLAIN}secret\n")
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    internal, login, mail = me, me, (me, group)
    if os.getuid() == 0:
        # Dovecot serves no login as root: use the users Debian's package creates.
        internal, login, mail = "dovecot", "dovenull", ("dovecot", "dovecot")
        shutil.chown(root / "home", *mail)
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        DOVECOT_CONFIG.format(
            root=root,
            port=port,
            internal_user=internal,
            internal_group=mail[1] if os.getuid() == 0 else group,
            login_user=login,
            mail_user=mail[0],
            mail_group=mail[1],
        )
    )
    subprocess.run([binary, "-c", str(config)], check=True, timeout=30)
    server = Dovecot(root, config, port)
    try:
        _wait_for_port(port, time.monotonic() + 15)
        yield server
    finally:
        subprocess.run(["doveadm", "-c", str(config), "stop"], check=False, timeout=30)
        shutil.rmtree(root, ignore_errors=True)
