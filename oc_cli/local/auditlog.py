"""Local backend: reading and verifying the hash-chained audit log."""

from __future__ import annotations

import json

from oc_cli.domain import audit as chain
from oc_cli.errors import ValidationError
from oc_cli.local.base import Json, LocalBase, loads


def _entry(r) -> Json:
    # `tenant` is always there, null when none: the reference omits it then (opencrane-api §12),
    # which makes the shape of an entry change from one entry to the next.
    e: Json = {"seq": r["seq"], "timestamp": r["timestamp"], "actor": r["actor"], "tenant": r["tenant"]}
    e.update(action=r["action"], resource=r["resource"], message=r["message"],
             before=loads(r["before"]), after=loads(r["after"]))
    return e


class AuditMixin(LocalBase):
    def list_audit(self, *, tenant: str | None = None, limit: int = 100, cursor: str | None = None) -> Json:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError(f"--limit must be an integer from 1 to 1000, got {limit!r}")
        where, args = [], []
        if self.tenant is not None:
            if tenant and tenant != self.tenant:
                return {"data": [], "pagination": {"limit": limit, "hasMore": False}}
            tenant = self.tenant
        if tenant:
            where.append("tenant = ?")
            args.append(tenant)
        if cursor:
            seq = chain.decode_cursor(cursor)
            if seq is None:
                raise ValidationError("--cursor: invalid cursor", "pass the nextCursor value printed by the previous page")
            where.append("seq < ?")
            args.append(seq)
        sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit + 1)).fetchall()
        has_more = len(rows) > limit
        rows = rows[:limit]
        page: Json = {"limit": limit, "hasMore": has_more}
        if has_more:
            page["nextCursor"] = chain.encode_cursor(rows[-1]["seq"])
        return {"data": [_entry(r) for r in rows], "pagination": page}

    def verify_audit(self) -> Json:
        with self.store.read() as c:
            head_row = c.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
            head = tuple(json.loads(head_row[0])) if head_row else None

            def entries():
                for r in c.execute("SELECT * FROM audit_log ORDER BY seq"):
                    yield {
                        "seq": r["seq"], "timestamp": r["timestamp"], "actor": r["actor"], "tenant": r["tenant"],
                        "action": r["action"], "resource": r["resource"], "message": r["message"],
                        "before": loads(r["before"]), "after": loads(r["after"]),
                        "prevHash": r["prev_hash"], "hash": r["hash"],
                    }

            result = chain.verify(entries(), head)
        result["head"] = {"seq": head[0], "hash": head[1]} if head else None
        return result
