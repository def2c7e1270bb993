"""Schema migrations: small numbered functions, applied in order, recorded in a table.

Forward-only and append-only: never edit a released migration, add the next one. Each runs
inside the same ``BEGIN IMMEDIATE`` transaction as its bookkeeping, and the runner re-checks
the version after taking the lock, so concurrent first runs apply each migration once.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Callable

from oc_cli.domain.ids import now_iso

if TYPE_CHECKING:
    from oc_cli.local.store import Store

MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = []


def migration(version: int, name: str):
    def register(fn: Callable[[sqlite3.Connection], None]):
        assert not MIGRATIONS or MIGRATIONS[-1][0] == version - 1, "migrations must be numbered consecutively"
        MIGRATIONS.append((version, name, fn))
        return fn

    return register


def run_script(c: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one (``executescript`` would commit the open transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            c.execute(buf)
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf[:80]!r}")


@migration(1, "registry, postures, defaults, tenants, eval cases, audit")
def m001_initial(c: sqlite3.Connection) -> None:
    run_script(
        c,
        """
        CREATE TABLE cluster_tenants (
            name TEXT PRIMARY KEY,
            description TEXT,
            grant_all_global INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE credentials (
            id TEXT PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('global', 'clusterTenant')),
            cluster_tenant TEXT REFERENCES cluster_tenants(name),
            provider TEXT NOT NULL,
            secret_ref TEXT NOT NULL,
            litellm_credential_name TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((scope = 'global') = (cluster_tenant IS NULL))
        );
        CREATE UNIQUE INDEX credentials_scope_provider
            ON credentials (scope, ifnull(cluster_tenant, ''), provider);
        CREATE TABLE models (
            id TEXT PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('global', 'clusterTenant')),
            cluster_tenant TEXT REFERENCES cluster_tenants(name),
            public_model_name TEXT NOT NULL,
            litellm_model_id TEXT NOT NULL UNIQUE,
            upstream_model TEXT NOT NULL,
            api_base TEXT,
            is_default INTEGER NOT NULL DEFAULT 0,
            provider_credential_id TEXT REFERENCES credentials(id) ON DELETE SET NULL,
            input_cost_per_mtok REAL,
            output_cost_per_mtok REAL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((scope = 'global') = (cluster_tenant IS NULL))
        );
        CREATE UNIQUE INDEX models_scope_name
            ON models (scope, ifnull(cluster_tenant, ''), public_model_name);
        CREATE INDEX models_name ON models (public_model_name);
        CREATE TABLE tenant_grants (
            cluster_tenant TEXT NOT NULL REFERENCES cluster_tenants(name) ON DELETE CASCADE,
            model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            PRIMARY KEY (cluster_tenant, model_id)
        );
        CREATE TABLE skills (
            name TEXT NOT NULL,
            scope TEXT NOT NULL,
            team TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '',
            content_hash TEXT,
            model_mode TEXT CHECK (model_mode IN ('pinned', 'auto')),
            pinned_model TEXT,
            auto_config TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (name, scope, team)
        );
        CREATE TABLE routing_defaults (
            id TEXT PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('global', 'clusterTenant')),
            cluster_tenant TEXT REFERENCES cluster_tenants(name),
            default_model TEXT,
            auto_config TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((scope = 'global') = (cluster_tenant IS NULL))
        );
        CREATE UNIQUE INDEX routing_defaults_scope
            ON routing_defaults (scope, ifnull(cluster_tenant, ''));
        CREATE TABLE eval_cases (
            id TEXT PRIMARY KEY,
            skill_name TEXT NOT NULL,
            skill_scope TEXT NOT NULL,
            skill_team TEXT NOT NULL DEFAULT '',
            input TEXT NOT NULL,
            expected TEXT,
            quality_bar REAL NOT NULL DEFAULT 0.8 CHECK (quality_bar >= 0 AND quality_bar <= 1),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX eval_cases_skill ON eval_cases (skill_name, skill_scope, skill_team);
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            timestamp TEXT NOT NULL,
            actor TEXT NOT NULL,
            tenant TEXT,
            action TEXT NOT NULL,
            resource TEXT NOT NULL,
            message TEXT NOT NULL,
            before TEXT,
            after TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """
    )


def migrate(store: "Store") -> int:
    """Bring the schema up to date; returns the schema version."""
    c = store.conn
    latest = MIGRATIONS[-1][0]
    version = c.execute("PRAGMA user_version").fetchone()[0]
    if version == latest:
        return version
    if version > latest:
        from oc_cli.errors import OcError

        raise OcError(
            f"database {store.path} has schema version {version}",
            f"this oc understands up to {latest}; upgrade oc",
            code="SCHEMA_TOO_NEW",
        )
    with store.write():
        version = c.execute("PRAGMA user_version").fetchone()[0]  # re-check under the lock
        c.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for number, name, fn in MIGRATIONS:
            if number <= version:
                continue
            fn(c)
            c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                      (number, name, now_iso()))
            c.execute(f"PRAGMA user_version = {number}")
            version = number
    return version


@migration(2, "measurements, per-case results, proposals, usage")
def m002_measurements(c: sqlite3.Connection) -> None:
    run_script(
        c,
        """
        CREATE TABLE measurements (
            id TEXT PRIMARY KEY,
            skill_name TEXT NOT NULL,
            skill_scope TEXT NOT NULL,
            skill_team TEXT NOT NULL DEFAULT '',
            current_model TEXT NOT NULL,
            candidate_model TEXT NOT NULL,
            candidate_model_id TEXT,
            candidate_upstream_model TEXT,
            baseline_upstream_model TEXT,
            judge_model TEXT NOT NULL,
            skill_content_hash TEXT,
            skill_digest TEXT,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted')),
            params TEXT NOT NULL,
            cases_total INTEGER NOT NULL,
            summary TEXT,
            proposal_id TEXT,
            runner_pid INTEGER,
            runner_host TEXT,
            run_at TEXT NOT NULL,
            finished_at TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX measurements_skill ON measurements (skill_name, skill_scope, skill_team, run_at);
        CREATE TABLE measurement_cases (
            measurement_id TEXT NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            case_id TEXT NOT NULL,
            input TEXT NOT NULL,
            expected TEXT,
            quality_bar REAL NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
            baseline_output TEXT,
            candidate_output TEXT,
            baseline_score REAL,
            candidate_score REAL,
            baseline_cost_usd REAL,
            candidate_cost_usd REAL,
            judge_cost_usd REAL,
            baseline_cost_source TEXT,
            candidate_cost_source TEXT,
            baseline_latency_ms REAL,
            candidate_latency_ms REAL,
            judge_latency_ms REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            tries INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (measurement_id, position)
        );
        CREATE TABLE proposals (
            id TEXT PRIMARY KEY,
            skill_name TEXT NOT NULL,
            skill_scope TEXT NOT NULL,
            skill_team TEXT NOT NULL DEFAULT '',
            from_model TEXT,
            proposed_model TEXT NOT NULL,
            projected_savings_pct REAL,
            ci_low_pct REAL,
            ci_high_pct REAL,
            pinned_savings_pct REAL,
            pinned_ci_low_pct REAL,
            pinned_ci_high_pct REAL,
            skill_content_hash TEXT,
            skill_digest TEXT,
            proposed_model_id TEXT,
            measurement_id TEXT REFERENCES measurements(id),
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'applied')),
            decided_by TEXT,
            decided_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX proposals_status ON proposals (status, created_at);
        CREATE INDEX proposals_skill ON proposals (skill_name, skill_scope, skill_team);
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL CHECK (source IN ('oc', 'import')),
            kind TEXT NOT NULL,
            model TEXT,
            model_group TEXT,
            skill TEXT,
            tenant TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            spend_usd REAL,
            latency_ms REAL,
            status TEXT NOT NULL,
            start_time TEXT NOT NULL,
            end_time TEXT,
            measurement_id TEXT,
            passed INTEGER
        );
        CREATE INDEX usage_start ON usage (start_time);
        """,
    )




# Metrics over millions of usage rows (SPEC §6) need what the table alone cannot give fast:
#
# - ``usage_model_latency`` orders each model's calls by latency, so the exact p95 of a model is
#   one OFFSET walk down the top 5% of its entries, and the p95 of any other grouping a merge of
#   those walks; its other columns let the walks filter by window and tenant and read the group
#   without touching the table.
# - ``usage_hourly`` sums imported traffic per hour, model, skill and tenant, so summing a window
#   reads its whole hours there instead of every row. The importer (oc_cli/local/usage.py) adds
#   each batch with one set-based statement in the batch's transaction (no imported rows exist
#   before this migration: the importer comes with it); an insert trigger would be simpler but
#   made inserts 60% slower. Key columns hold '' for NULL. The triggers keep it exact if an
#   imported row is ever updated or deleted.
# - ``usage_own_start`` finds the rows not in the rollup (oc's own gateway calls, source 'oc')
#   by time; there are few of them, and a partial index costs imports nothing.
_ROLLUP_COLUMNS = (
    "hour, model, skill, tenant, requests, failures, prompt_tokens, completion_tokens, spend_usd, spend_n,"
    " latency_sum, latency_n"
)
_ROLLUP_ON_CONFLICT = """
    ON CONFLICT (hour, model, skill, tenant) DO UPDATE SET
        requests = requests + excluded.requests, failures = failures + excluded.failures,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        completion_tokens = completion_tokens + excluded.completion_tokens,
        spend_usd = spend_usd + excluded.spend_usd, spend_n = spend_n + excluded.spend_n,
        latency_sum = latency_sum + excluded.latency_sum, latency_n = latency_n + excluded.latency_n
"""
# Adds the imported usage rows with id > ? to the rollup (the importer's set-based statement).
ROLLUP_ADD_IMPORTED_AFTER = f"""
    INSERT INTO usage_hourly ({_ROLLUP_COLUMNS})
    SELECT substr(start_time, 1, 13), ifnull(model, ''), ifnull(skill, ''), ifnull(tenant, ''), count(*),
        total(status = 'failure'), total(prompt_tokens), total(completion_tokens), total(spend_usd),
        count(spend_usd), total(latency_ms), count(latency_ms)
    FROM usage WHERE id > ? AND source = 'import' GROUP BY 1, 2, 3, 4
    {_ROLLUP_ON_CONFLICT}
"""
_ROLLUP_ADD_NEW = f"""
    INSERT INTO usage_hourly ({_ROLLUP_COLUMNS}) VALUES (
        substr(NEW.start_time, 1, 13), ifnull(NEW.model, ''), ifnull(NEW.skill, ''), ifnull(NEW.tenant, ''), 1,
        NEW.status = 'failure', ifnull(NEW.prompt_tokens, 0), ifnull(NEW.completion_tokens, 0),
        ifnull(NEW.spend_usd, 0), NEW.spend_usd IS NOT NULL, ifnull(NEW.latency_ms, 0), NEW.latency_ms IS NOT NULL)
    {_ROLLUP_ON_CONFLICT};
"""
_ROLLUP_REMOVE_OLD = """
    UPDATE usage_hourly SET
        requests = requests - 1, failures = failures - (OLD.status = 'failure'),
        prompt_tokens = prompt_tokens - ifnull(OLD.prompt_tokens, 0),
        completion_tokens = completion_tokens - ifnull(OLD.completion_tokens, 0),
        spend_usd = spend_usd - ifnull(OLD.spend_usd, 0), spend_n = spend_n - (OLD.spend_usd IS NOT NULL),
        latency_sum = latency_sum - ifnull(OLD.latency_ms, 0), latency_n = latency_n - (OLD.latency_ms IS NOT NULL)
    WHERE hour = substr(OLD.start_time, 1, 13) AND model = ifnull(OLD.model, '') AND skill = ifnull(OLD.skill, '')
        AND tenant = ifnull(OLD.tenant, '');
"""


@migration(3, "usage: upstream model; latency index, hourly rollup and own-calls index for metrics")
def m003_usage_metrics(c: sqlite3.Connection) -> None:
    run_script(
        c,
        f"""
        ALTER TABLE usage ADD COLUMN upstream_model TEXT;
        CREATE INDEX usage_model_latency ON usage (model, latency_ms, start_time, tenant, skill);
        CREATE INDEX usage_own_start ON usage (start_time) WHERE source <> 'import';
        CREATE TABLE usage_hourly (
            hour TEXT NOT NULL,
            model TEXT NOT NULL,
            skill TEXT NOT NULL,
            tenant TEXT NOT NULL,
            requests INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            spend_usd REAL NOT NULL,
            spend_n INTEGER NOT NULL,
            latency_sum REAL NOT NULL,
            latency_n INTEGER NOT NULL,
            PRIMARY KEY (hour, model, skill, tenant)
        ) WITHOUT ROWID;
        CREATE TRIGGER usage_hourly_delete AFTER DELETE ON usage WHEN OLD.source = 'import' BEGIN
            {_ROLLUP_REMOVE_OLD}
        END;
        CREATE TRIGGER usage_hourly_update_old AFTER UPDATE ON usage WHEN OLD.source = 'import' BEGIN
            {_ROLLUP_REMOVE_OLD}
        END;
        CREATE TRIGGER usage_hourly_update_new AFTER UPDATE ON usage WHEN NEW.source = 'import' BEGIN
            {_ROLLUP_ADD_NEW}
        END;
        """,
    )


@migration(4, "eval cases: a stable insertion sequence")
def m004_eval_case_seq(c: sqlite3.Connection) -> None:
    # A measurement replays a skill's cases in this order and the savings test's random sign
    # patterns are drawn per position, so the order must not depend on random ids or on rows
    # sharing a timestamp: then the same cases and --seed give the same figures in any database.
    # Existing rows keep the order they were inserted in (their rowid).
    run_script(
        c,
        """
        ALTER TABLE eval_cases ADD COLUMN seq INTEGER;
        UPDATE eval_cases SET seq = rowid;
        CREATE UNIQUE INDEX eval_cases_seq ON eval_cases (seq);
        """,
    )


# Several candidates measured in one run (SPEC §5.9). Each candidate keeps a record of its own in
# ``measurements``; ``group_id`` links the records of one run. A case's baseline part (answer and
# grade) and candidate part are stored and replayed separately, so a resumed group repeats only the
# calls whose results are missing: a baseline answered for one member is written to every member
# at once. ``cases_hash`` fingerprints the eval cases' contents, which ``--reuse-baseline`` matches.
@migration(5, "measurement groups: shared baseline, per-part case status, eval-case hash, baseline reuse")
def m005_measurement_groups(c: sqlite3.Connection) -> None:
    run_script(
        c,
        """
        ALTER TABLE measurements ADD COLUMN group_id TEXT;
        ALTER TABLE measurements ADD COLUMN cases_hash TEXT;
        ALTER TABLE measurements ADD COLUMN baseline_reused_from TEXT;
        CREATE INDEX measurements_group ON measurements (group_id) WHERE group_id IS NOT NULL;
        CREATE INDEX measurements_reuse ON measurements (skill_name, skill_scope, skill_team, cases_hash, run_at);
        ALTER TABLE measurement_cases ADD COLUMN baseline_status TEXT;
        ALTER TABLE measurement_cases ADD COLUMN candidate_status TEXT;
        ALTER TABLE measurement_cases ADD COLUMN baseline_error TEXT;
        ALTER TABLE measurement_cases ADD COLUMN candidate_error TEXT;
        ALTER TABLE measurement_cases ADD COLUMN baseline_judge_cost_usd REAL;
        ALTER TABLE measurement_cases ADD COLUMN candidate_judge_cost_usd REAL;
        ALTER TABLE measurement_cases ADD COLUMN baseline_judge_latency_ms REAL;
        ALTER TABLE measurement_cases ADD COLUMN candidate_judge_latency_ms REAL;
        UPDATE measurement_cases SET baseline_status = 'completed', candidate_status = 'completed'
            WHERE status = 'completed';
        """,
    )


@migration(6, "judge labels: people's grades of measured answers, for judge calibration")
def m006_judge_labels(c: sqlite3.Connection) -> None:
    run_script(
        c,
        """
        CREATE TABLE judge_labels (
            measurement_id TEXT NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('baseline', 'candidate')),
            human_pass INTEGER NOT NULL CHECK (human_pass IN (0, 1)),
            human_score REAL CHECK (human_score IS NULL OR (human_score >= 0 AND human_score <= 1)),
            labeler TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (measurement_id, position, side)
        );
        """,
    )


@migration(7, "credentials: the environment variable a gateway export reads the key from")
def m007_credential_env_var(c: sqlite3.Connection) -> None:
    # NULL: the variable is derived from secretRef (docs/gateway.md); a name here overrides that.
    run_script(c, "ALTER TABLE credentials ADD COLUMN env_var TEXT;")
