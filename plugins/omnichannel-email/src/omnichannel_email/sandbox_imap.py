"""A small IMAP4rev1 server for the sandbox: one mailbox in memory, on a loopback port.

It speaks the part of RFC 3501 the adapter uses (CAPABILITY, LOGIN, AUTHENTICATE XOAUTH2,
SELECT, LIST, CREATE, UID SEARCH over ``ALL``/``UNSEEN``/``UID n:*``, UID FETCH of ``UID``,
``RFC822.SIZE`` and ``BODY.PEEK[]``, UID STORE, UID MOVE (RFC 6851), NOOP, EXPUNGE, LOGOUT),
so ``omni sandbox`` and the tests poll a real IMAP conversation over a socket. It is no
general server: tests that need one use Dovecot (``tests/conftest.py``).
"""

from __future__ import annotations

import base64
import re
import socketserver
import threading
from collections.abc import Iterator
from typing import Final

import attrs

__all__ = ["Mailbox", "SandboxImapServer", "StoredMessage"]

CAPABILITIES: Final = "IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 MOVE UIDPLUS"
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|\(([^)]*)\)|(\S+)')


@attrs.define
class StoredMessage:
    """One message in a folder."""

    uid: int
    raw: bytes
    flags: set[str] = attrs.field(factory=set)


class Mailbox:
    """Folders of messages, shared by every connection (and the simulator) under one lock."""

    def __init__(self, uidvalidity: int = 1) -> None:
        self.lock = threading.Lock()
        self.uidvalidity = uidvalidity
        self.folders: dict[str, list[StoredMessage]] = {"INBOX": []}
        self._next_uid: dict[str, int] = {"INBOX": 1}

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Store ``raw`` in ``folder``; return its UID."""
        with self.lock:
            return self._append(raw, folder, set())

    def _append(self, raw: bytes, folder: str, flags: set[str]) -> int:
        self.folders.setdefault(folder, [])
        uid = self._next_uid.get(folder, 1)
        self._next_uid[folder] = uid + 1
        self.folders[folder].append(StoredMessage(uid=uid, raw=raw, flags=flags))
        return uid

    def renumber(self) -> None:
        """Give every message a new UID under a new UIDVALIDITY (a server-side rebuild)."""
        with self.lock:
            self.uidvalidity += 1
            for name, messages in self.folders.items():
                for uid, message in enumerate(messages, start=1):
                    message.uid = uid
                self._next_uid[name] = len(messages) + 1

    def move(self, message: StoredMessage, source: str, target: str) -> None:
        """Move ``message`` (the lock is held by the caller)."""
        self.folders[source].remove(message)
        self._append(message.raw, target, set(message.flags))


def _uids(spec: str, messages: list[StoredMessage]) -> Iterator[StoredMessage]:
    top = max((message.uid for message in messages), default=0)
    wanted: set[int] = set()
    for piece in spec.split(","):
        low, colon, high = piece.partition(":")
        start = top if low == "*" else int(low)
        end = (top if high == "*" else int(high)) if colon else start
        wanted.update(range(min(start, end), max(start, end) + 1))
    return (message for message in messages if message.uid in wanted)


class _Session(socketserver.StreamRequestHandler):
    server: SandboxImapServer

    def send(self, line: str | bytes) -> None:
        data = line.encode() if isinstance(line, str) else line
        self.wfile.write(data + b"\r\n")

    def handle(self) -> None:
        self.folder: str | None = None
        self.authenticated = False
        self.send(f"* OK [CAPABILITY {CAPABILITIES}] omnichannel sandbox IMAP ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            command, _, arguments = rest.partition(" ")
            try:
                if not self.dispatch(tag, command.upper(), arguments):
                    return
            except (ValueError, KeyError, IndexError):
                self.send(f"{tag} BAD could not parse the command")

    def dispatch(self, tag: str, command: str, arguments: str) -> bool:
        args = [next(g for g in m.groups() if g is not None) for m in _TOKEN.finditer(arguments)]
        mailbox = self.server.mailbox
        if command == "CAPABILITY":
            self.send(f"* CAPABILITY {CAPABILITIES}")
        elif command == "LOGIN":
            if (args[0], args[1]) != self.server.credentials:
                self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                return True
            self.authenticated = True
        elif command == "AUTHENTICATE" and args[0].upper() == "XOAUTH2":
            self.send("+ ")
            decoded = base64.b64decode(self.rfile.readline().strip()).decode()
            user, _, rest = decoded.removeprefix("user=").partition("\x01")
            if (user, rest.removeprefix("auth=Bearer ").rstrip("\x01")) != self.server.credentials:
                self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid token")
                return True
            self.authenticated = True
        elif command == "LOGOUT":
            self.send("* BYE logging out")
            self.send(f"{tag} OK LOGOUT completed")
            return False
        elif command in ("NOOP", "EXPUNGE", "CHECK"):
            pass
        elif not self.authenticated:
            self.send(f"{tag} NO log in first")
            return True
        elif command == "SELECT":
            with mailbox.lock:
                folder = args[0]
                if folder not in mailbox.folders:
                    self.send(f"{tag} NO no such folder")
                    return True
                self.folder = folder
                messages = mailbox.folders[folder]
                self.send(f"* {len(messages)} EXISTS")
                self.send("* 0 RECENT")
                self.send(r"* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)")
                self.send(f"* OK [UIDVALIDITY {mailbox.uidvalidity}] UIDs valid")
                self.send(f"* OK [UIDNEXT {mailbox._next_uid.get(folder, 1)}] next UID")
            self.send(f"{tag} OK [READ-WRITE] SELECT completed")
            return True
        elif command == "LIST":
            with mailbox.lock:
                for name in mailbox.folders:
                    if args[1] in ("*", name):
                        self.send(f'* LIST (\\HasNoChildren) "/" "{name}"')
        elif command == "CREATE":
            with mailbox.lock:
                mailbox.folders.setdefault(args[0], [])
        elif command == "UID" and self.folder is not None:
            self.uid_command(tag, args[0].upper(), args[1:])
            return True
        else:
            self.send(f"{tag} BAD unsupported command {command}")
            return True
        self.send(f"{tag} OK {command} completed")
        return True

    def uid_command(self, tag: str, command: str, args: list[str]) -> None:
        mailbox, folder = self.server.mailbox, self.folder
        assert folder is not None
        with mailbox.lock:
            messages = mailbox.folders[folder]
            if command == "SEARCH":
                criteria = [arg.upper() for arg in args if arg.upper() != "CHARSET"]
                found = list(messages)
                if "UNSEEN" in criteria:
                    found = [m for m in found if "\\Seen" not in m.flags]
                if "UID" in criteria:
                    found = list(_uids(args[criteria.index("UID") + 1], found))
                self.send("* SEARCH" + "".join(f" {m.uid}" for m in found))
            elif command == "FETCH":
                items = args[1].upper()
                for message in _uids(args[0], messages):
                    number = messages.index(message) + 1
                    head = f"* {number} FETCH (UID {message.uid}"
                    if "RFC822.SIZE" in items:
                        head += f" RFC822.SIZE {len(message.raw)}"
                    if "BODY.PEEK[]" in items or "BODY[]" in items:
                        if "BODY[]" in items:
                            message.flags.add("\\Seen")
                        self.wfile.write(f"{head} BODY[] {{{len(message.raw)}}}\r\n".encode())
                        self.wfile.write(message.raw + b")\r\n")
                    else:
                        self.send(head + ")")
            elif command == "STORE":
                flags = set(args[2].split()) if len(args) > 2 else set()
                for message in _uids(args[0], messages):
                    if args[1].upper().startswith("+"):
                        message.flags |= flags
                    else:
                        message.flags -= flags
            elif command == "MOVE":
                for message in list(_uids(args[0], messages)):
                    mailbox.move(message, folder, args[1])
            else:
                self.send(f"{tag} BAD unsupported UID {command}")
                return
        self.send(f"{tag} OK UID {command} completed")


class SandboxImapServer(socketserver.ThreadingTCPServer):
    """The server: ``serve()`` runs it in a daemon thread until :meth:`close`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], mailbox: Mailbox, credentials: tuple[str, str]):
        super().__init__(address, _Session)
        self.mailbox = mailbox
        self.credentials = credentials
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    def serve(self) -> None:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="sandbox-imap", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
