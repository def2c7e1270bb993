"""The SQLite store: connection set-up, transactions, and the migration runner.

- WAL journal and a generous busy timeout, so concurrent ``oc`` processes queue instead of
  failing with "database is locked".
- Every mutation runs in ``write()``: ``BEGIN IMMEDIATE`` takes the write lock up front (no
  deadlock-prone lock upgrade), and the transaction commits or rolls back as a whole.
- Migrations (``oc_cli.local.migrations``) are numbered, forward-only and idempotent; they
  are applied on open under the write lock and recorded in ``schema_migrations``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from oc_cli.errors import OcError

BUSY_TIMEOUT_MS = 60_000


class StoreError(OcError):
    default_code = "DATABASE_ERROR"


class Store:
    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        self.created = str(self.path) != ":memory:" and not self.path.exists()  # this call made the file
        if str(self.path) != ":memory:":
            if not self.path.exists() and not create:
                raise StoreError(f"database {self.path} does not exist", "run `oc init` first")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of {self.path}", exc.strerror or str(exc)) from None
        try:
            self.conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {self.path}", str(exc)) from None
        self.conn.row_factory = sqlite3.Row
        self._configure()
        from oc_cli.local.migrations import migrate

        self.schema_version = migrate(self)

    def _configure(self) -> None:
        c = self.conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        c.execute("PRAGMA foreign_keys = ON")
        if str(self.path) != ":memory:":
            mode = c.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                # Switching to WAL needs a brief exclusive lock; retry if another process holds it.
                deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
                while True:
                    try:
                        c.execute("PRAGMA journal_mode = WAL")
                        break
                    except sqlite3.OperationalError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
        c.execute("PRAGMA synchronous = NORMAL")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock; commits on success, rolls back on any error."""
        self._begin("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-statement reads."""
        self._begin("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    def _begin(self, stmt: str) -> None:
        # busy_timeout covers lock waits; this loop only covers the rare SQLITE_BUSY that
        # SQLite returns without invoking the busy handler (e.g. WAL recovery in progress).
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.conn.execute(stmt)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError("the database is busy", f"gave up after {BUSY_TIMEOUT_MS // 1000}s waiting for the write lock") from None
                time.sleep(0.01 + (os.getpid() % 7) / 1000)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
