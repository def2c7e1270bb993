"""oc audit: the hash-chained log of every change."""

from __future__ import annotations

import typer

from oc_cli import output, runtime, schema
from oc_cli.commands._common import OutputOpt, backend, show
from oc_cli.errors import OcError

app = typer.Typer(help="The audit log: every change, who made it, before and after.", no_args_is_help=True)


@app.command("list")
def list_(
    tenant: str = typer.Option(None, "--tenant", help="Only entries of this ClusterTenant."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="Entries per page (1-1000)."),
    cursor: str = typer.Option(None, "--cursor", help="Continue after a previous page (its nextCursor)."),
    fmt: str = OutputOpt(),
) -> None:
    """List audit entries, newest first."""
    b = backend()
    page = b.list_audit(tenant=tenant, limit=limit, cursor=cursor)
    if fmt == "json":
        show(page, fmt)
        return
    show(page["data"], fmt, schema.AUDIT_ENTRY.columns(b.mode))
    pag = page.get("pagination") or {}
    if pag.get("hasMore"):
        output.message(f"More results available. Next cursor: {pag['nextCursor']}")
        output.message(f"Run with --cursor {pag['nextCursor']} to fetch the next page.")


class AuditChainBroken(OcError):
    default_code = "AUDIT_CHAIN_BROKEN"


@app.command("verify")
def verify(fmt: str = OutputOpt()) -> None:
    """Check the hash chain: fails (exit 1) if any entry was edited, reordered or removed."""
    result = runtime.local_backend("audit verify").verify_audit()
    if fmt == "json":
        show(result, fmt)
    elif result["ok"]:
        output.success(f"audit log intact: {result['checked']} entries, hash chain verified")
    else:
        show(result["problems"], fmt, ["seq", "problem"])
    if not result["ok"]:
        raise AuditChainBroken("audit log verification failed",
                               f"{len(result['problems'])} problem(s); first at entry {result['problems'][0]['seq']}")
