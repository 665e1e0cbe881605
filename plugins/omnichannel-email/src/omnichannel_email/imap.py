"""IMAP receiving with imap-tools (synchronous, run in a worker thread one call at a time):
find new mail after a cursor, fetch it whole without marking it read, and mark it processed
only when told to (after the router has taken it).

The cursor is ``{UIDVALIDITY}:{last processed UID}``. A poll with a cursor whose UIDVALIDITY
still holds asks for ``UID {last + 1}:*`` (and drops the one message a ``n:*`` range always
returns when nothing is newer). A poll without a cursor, or after the server changed
UIDVALIDITY (the folder was recreated or renumbered: every UID we knew is void), *resyncs*:
it takes what is not yet processed, that is every ``UNSEEN`` message when processed mail is
marked ``\\Seen``, or every message in the folder when processed mail is moved out. Marking
happens in :meth:`ImapMailbox.mark_processed`, which the poll result's ``commit`` calls, so a
crash before it finds the same mail again (never loses it), and a restart after it does not
find it again (the flag or the move is on the server, not in our memory).
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Sequence
from typing import Final

import anyio
import anyio.from_thread
import anyio.to_thread
import attrs
from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import UnexpectedCommandStatusError

from omnichannel import TransportError
from omnichannel_email.settings import ImapSecurity, SmtpEmailSettings
from omnichannel_email.smtp import access_token, tls_context

__all__ = ["Batch", "Cursor", "Fetched", "ImapMailbox"]

logger = logging.getLogger(__name__)

BATCH_SIZE: Final = 50
"""Messages fetched per poll; the rest are fetched by the next poll, at once."""

_FAILURES: Final = (imaplib.IMAP4.error, UnexpectedCommandStatusError, OSError, ssl.SSLError)
_UID: Final = re.compile(rb"UID (\d+)")
_SIZE: Final = re.compile(rb"RFC822\.SIZE (\d+)")


@attrs.frozen
class Cursor:
    """Where polling got to: the folder's UIDVALIDITY and the last UID processed."""

    uidvalidity: int
    last_uid: int

    @classmethod
    def parse(cls, value: str | None) -> Cursor | None:
        """Read :meth:`__str__`'s form; None (a resync) for anything else."""
        validity, colon, last = (value or "").partition(":")
        if not colon or not validity.isdigit() or not last.isdigit():
            return None
        return cls(int(validity), int(last))

    def __str__(self) -> str:
        return f"{self.uidvalidity}:{self.last_uid}"


@attrs.frozen
class Fetched:
    """One message as the server stores it."""

    uid: int
    raw: bytes


@attrs.frozen
class Batch:
    """What one poll found."""

    uidvalidity: int
    messages: tuple[Fetched, ...]
    cursor: Cursor
    more: bool = False
    """More new mail is waiting than one batch holds."""
    resynced: bool = False
    skipped: tuple[int, ...] = ()
    """UIDs of messages over the size cap: not fetched, but marked processed with the rest."""


class ImapMailbox:
    """One IMAP connection to ``settings.imap_folder``, opened on first use and reopened after
    a failure. Every method runs in a worker thread under one lock."""

    def __init__(self, settings: SmtpEmailSettings) -> None:
        if settings.imap_host is None:
            raise ValueError("imap_host is not set")
        self.settings = settings
        self._box: BaseMailBox | None = None
        self._lock = anyio.Lock()
        self.connections = 0
        """Logins so far (tests read it)."""

    # -- the async surface ------------------------------------------------------------------

    async def fetch_new(self, cursor: Cursor | None) -> Batch:
        """New mail after ``cursor`` (see the module docstring)."""
        async with self._lock:
            return await self._run(self._fetch_new, cursor)

    async def mark_processed(self, uidvalidity: int, uids: Sequence[int]) -> None:
        """Mark ``uids`` processed: ``\\Seen``, or moved to ``imap_processed_folder``."""
        if not uids:
            return
        async with self._lock:
            await self._run(self._mark_processed, uidvalidity, tuple(uids))

    async def aclose(self) -> None:
        """Log out."""
        async with self._lock:
            await anyio.to_thread.run_sync(self._close)

    async def _run(self, work: object, *args: object) -> Batch:
        try:
            result: Batch = await anyio.to_thread.run_sync(work, *args)  # type: ignore[arg-type]
        except _FAILURES as exc:
            await anyio.to_thread.run_sync(self._close)
            raise TransportError(
                f"IMAP {self.settings.imap_host}: {type(exc).__name__}: {str(exc)[:120]}"
            ) from None
        return result

    # -- the worker-thread side -------------------------------------------------------------

    def _connect(self) -> BaseMailBox:
        settings = self.settings
        host, port, timeout = settings.imap_host or "", settings.imap_port_number, settings.timeout
        box: BaseMailBox
        if settings.imap_security is ImapSecurity.TLS:
            box = MailBox(
                host, port, timeout=timeout, ssl_context=tls_context(settings.tls_ca_file)
            )
        elif settings.imap_security is ImapSecurity.STARTTLS:
            box = MailBoxStartTls(
                host, port, timeout=timeout, ssl_context=tls_context(settings.tls_ca_file)
            )
        else:
            box = MailBoxUnencrypted(host, port, timeout=timeout)
        login = settings.imap_login or ""
        if settings.oauth_token_provider is not None:
            token = anyio.from_thread.run(access_token, settings.oauth_token_provider)
            box.xoauth2(login, token, initial_folder=None)
        else:
            secret = settings.imap_secret
            box.login(login, secret.reveal() if secret else "", initial_folder=None)
        folder = settings.imap_processed_folder
        if folder and not box.folder.exists(folder):
            box.folder.create(folder)
        self.connections += 1
        return box

    def _select(self) -> tuple[BaseMailBox, int]:
        if self._box is None:
            self._box = self._connect()
        box = self._box
        box.folder.set(self.settings.imap_folder)
        _, data = box.client.response("UIDVALIDITY")
        if not data or data[0] is None:
            raise imaplib.IMAP4.error("the server sent no UIDVALIDITY")
        value = data[-1]
        return box, int(value.decode() if isinstance(value, bytes) else str(value))

    def _fetch_new(self, cursor: Cursor | None) -> Batch:
        box, uidvalidity = self._select()
        resync = cursor is None or cursor.uidvalidity != uidvalidity
        if cursor is not None and resync:
            logger.warning(
                "IMAP folder %s changed UIDVALIDITY (%d -> %d): resyncing from its flags",
                self.settings.imap_folder,
                cursor.uidvalidity,
                uidvalidity,
            )
        if resync:
            criteria = "ALL" if self.settings.imap_processed_folder else "UNSEEN"
            last = 0
        else:
            assert cursor is not None
            criteria, last = f"UID {cursor.last_uid + 1}:*", cursor.last_uid
        found = sorted(uid for uid in map(int, box.uids(criteria, charset=None)) if uid > last)
        batch, more = found[:BATCH_SIZE], len(found) > BATCH_SIZE
        sizes = self._sizes(box, batch)
        wanted = [uid for uid in batch if sizes.get(uid, 0) <= self.settings.max_message_bytes]
        skipped = tuple(uid for uid in batch if uid not in wanted)
        for uid in skipped:
            logger.warning("IMAP message %d is over max_message_bytes; marked, not read", uid)
        messages = self._bodies(box, wanted)
        newest = max(batch, default=last)
        return Batch(
            uidvalidity=uidvalidity,
            messages=messages,
            cursor=Cursor(uidvalidity, newest),
            more=more,
            resynced=resync,
            skipped=skipped,
        )

    @staticmethod
    def _uid_set(uids: Sequence[int]) -> str:
        return ",".join(str(uid) for uid in uids)

    def _sizes(self, box: BaseMailBox, uids: Sequence[int]) -> dict[int, int]:
        if not uids:
            return {}
        status, data = box.client.uid("FETCH", self._uid_set(uids), "(UID RFC822.SIZE)")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH RFC822.SIZE answered {status}")
        sizes: dict[int, int] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if (
                isinstance(line, bytes)
                and (uid := _UID.search(line))
                and (size := _SIZE.search(line))
            ):
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _bodies(self, box: BaseMailBox, uids: Sequence[int]) -> tuple[Fetched, ...]:
        if not uids:
            return ()
        # BODY.PEEK[] leaves \Seen alone: the message is marked only once it was taken.
        status, data = box.client.uid("FETCH", self._uid_set(uids), "(UID BODY.PEEK[])")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH BODY.PEEK[] answered {status}")
        fetched = []
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and (uid := _UID.search(item[0])):
                fetched.append(Fetched(uid=int(uid.group(1)), raw=bytes(item[1])))
        return tuple(sorted(fetched, key=lambda message: message.uid))

    def _mark_processed(self, uidvalidity: int, uids: tuple[int, ...]) -> None:
        box, current = self._select()
        if current != uidvalidity:
            logger.warning("UIDVALIDITY changed before marking; the next poll resyncs")
            return
        uid_set = self._uid_set(uids)
        target = self.settings.imap_processed_folder
        if target:
            box.move(uid_set, target)
            return
        # A plain UID STORE: imap-tools' flag() also EXPUNGEs, which would delete other
        # clients' \Deleted mail.
        status, _ = box.client.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Seen)")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID STORE answered {status}")

    def _close(self) -> None:
        box, self._box = self._box, None
        if box is None:
            return
        try:
            box.logout()
        except (TimeoutError, *_FAILURES):
            try:
                box.client.shutdown()
            except (TimeoutError, *_FAILURES):
                pass
