"""oc init: create the local database (idempotent)."""

from __future__ import annotations

import typer

from oc_cli import output, runtime
from oc_cli.commands._common import OutputOpt

app = typer.Typer()


@app.command("init")
def init(fmt: str = OutputOpt()) -> None:
    """Create (or upgrade) the local database. Safe to run again."""
    s = runtime.settings()
    existed = s.db_path.exists()
    runtime.creating_database()
    b = runtime.local_backend("init")
    result = {"database": str(s.db_path), "schemaVersion": b.store.schema_version, "created": not existed,
              "source": s.db_source}
    if fmt == "json":
        output.emit(result, "json")
    else:
        verb = "created" if not existed else "ready"
        output.success(f"database {verb}: {s.db_path} (schema version {result['schemaVersion']})")
