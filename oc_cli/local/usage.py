"""Local backend: usage records and the metrics over them (SPEC §6).

Two sources fill the ``usage`` table: every gateway call ``oc`` makes during a measurement
(source ``oc``, written by the measurement runner) and production traffic imported from LiteLLM
spend logs (source ``import``, kind ``traffic``). Timestamps are stored as UTC
``YYYY-MM-DDTHH:MM:SS.mmmZ`` strings, which sort like the instants they name, so a time window
is a plain range.

``metrics`` groups a window's rows by model, skill, tenant or day, and is built to stay fast at
millions of rows (migration 3): sums come from an hourly rollup of imported traffic plus the few
rows the rollup does not cover, and the exact p95 from walks down an index that orders each
model's calls by latency. A tenant identity only ever sees its own rows.
"""

from __future__ import annotations

import codecs
import contextlib
import heapq
import io
import json
import math
import os
import re
import signal
import sqlite3
import sys
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oc_cli.controlplane import Progress

if TYPE_CHECKING:
    from concurrent.futures import Future
from oc_cli.domain import skillkey
from oc_cli.domain.words import plural
from oc_cli.errors import ForbiddenError, OcError, ValidationError
from oc_cli.local.base import Json, LocalBase
from oc_cli.local.migrations import ROLLUP_ADD_IMPORTED_AFTER

BATCH_ROWS = 200_000  # rows per import transaction (see import_usage)
BAD_ROWS_SHOWN = 20
_MAX_INTEGER = (1 << 63) - 1  # SQLite's INTEGER
READ_CHUNK = 1 << 20
PARALLEL_MIN_BYTES = 8 << 20  # JSONL files at least this big are parsed by worker processes
# A JSON array is read element by element; one element may span at most this many characters of
# look-ahead before it is declared unreadable (so a broken array never pulls the whole file in).
MAX_ELEMENT_CHARS = 16 << 20
IMPORT_CACHE_KIB = 64 * 1024  # page cache while importing (SQLite default: 2 MB); more measured no faster

KINDS = ("traffic", "measurement", "judge")  # imported calls; oc's candidate/baseline calls; its judge calls
GROUP_KEYS = {  # --by -> the expression over usage rows
    "model": "model",
    "skill": "skill",
    "tenant": "tenant",
    "day": "substr(start_time, 1, 10)",
}
_ROLLUP_KEYS = {  # the same over usage_hourly, whose key columns hold '' for NULL
    "model": "nullif(model, '')",
    "skill": "nullif(skill, '')",
    "tenant": "nullif(tenant, '')",
    "day": "substr(hour, 1, 10)",
}
_SUM_COLUMNS = ("requests", "failures", "promptTokens", "completionTokens", "spend", "spendN", "latencySum",
                "latencyN", "passedSum", "passedN")
_LATENCY_N = _SUM_COLUMNS.index("latencyN")
# One row per usage row, and one per rollup row, in _SUM_COLUMNS order; the first SELECT of a
# UNION names the columns (k, c1..c10) for the outer sum.
_RAW_SUMS = (
    "SELECT {key} AS k, 1 AS c1, status = 'failure' AS c2, prompt_tokens AS c3, completion_tokens AS c4,"
    " spend_usd AS c5, spend_usd IS NOT NULL AS c6, latency_ms AS c7, latency_ms IS NOT NULL AS c8,"
    " CASE WHEN kind = 'measurement' THEN passed END AS c9, kind = 'measurement' AND passed IS NOT NULL AS c10"
    " FROM usage {index} WHERE start_time >= ? AND start_time < ?"
)
_ROLLUP_SUMS = (  # imported traffic: never a measurement, so no judge verdicts
    "SELECT {key}, requests, failures, prompt_tokens, completion_tokens, spend_usd, spend_n, latency_sum,"
    " latency_n, 0, 0 FROM usage_hourly WHERE hour >= ? AND hour < ?"
)
_HOUR_SUFFIX = ":00:00.000Z"  # hour key 'YYYY-MM-DDTHH' + this = the stored form of the hour's start
_TOTAL = object()  # the key of the all-rows p95
DEFAULT_WINDOW_SECONDS = 7 * 86400
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TIME_FORMS = "a duration like 7d, 24h, 30m (that long ago) or an ISO date/time like 2025-01-31 or 2025-01-31T12:00:00Z"

_INSERT = (
    "INSERT OR IGNORE INTO usage (request_id, source, kind, model, model_group, upstream_model, skill, tenant,"
    " prompt_tokens, completion_tokens, spend_usd, latency_ms, status, start_time, end_time)"
    " VALUES (?, 'import', 'traffic', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_DECODER = json.JSONDecoder()


class BadRow(ValueError):
    """One spend-log row that cannot be imported, and why."""


# -- time ------------------------------------------------------------------------------------------

def iso_utc(d: datetime) -> str:
    """The stored form of an instant: UTC, millisecond precision, a trailing Z."""
    if d.tzinfo is not None:
        d = d.astimezone(timezone.utc)
    return (f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}."
            f"{d.microsecond // 1000:03d}Z")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 time as a naive UTC datetime; a time without an offset is taken as UTC
    (LiteLLM writes naive UTC). Raises ValueError."""
    d = datetime.fromisoformat(text.strip())
    if d.tzinfo is not None:
        d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return d


def duration_seconds(value: str) -> int | None:
    """``7d``/``24h``/``30m``/``45s``/``2w`` in seconds; None when ``value`` is not such a duration."""
    m = _DURATION.match(value)
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)] if m else None


def parse_window_bound(value: str, flag: str, now: datetime) -> datetime:
    """``7d``/``24h``/``30m``/``45s``/``2w`` (that long before ``now``) or an ISO date/time."""
    seconds = duration_seconds(value)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    try:
        return parse_instant(value)
    except ValueError:
        raise ValidationError(f"{flag}: cannot read {value!r}", f"expected {TIME_FORMS}") from None


def window(params: Json) -> tuple[str, str]:
    """``(since, until)`` in stored form: since inclusive, until exclusive. Without --since the
    window is the 7 days before --until (before now, without either)."""
    now = _utcnow()
    until = parse_window_bound(params["until"], "--until", now) if params.get("until") else now
    if params.get("since"):
        since = parse_window_bound(params["since"], "--since", now)
    else:
        since = until - timedelta(seconds=DEFAULT_WINDOW_SECONDS)
    if since >= until:
        raise ValidationError("--since must be before --until",
                              f"the window {iso_utc(since)} .. {iso_utc(until)} is empty")
    return iso_utc(since), iso_utc(until)


def _whole_hours(since: str, until: str) -> tuple[str | None, str]:
    """The hour keys ``[first, end)`` of the whole hours inside the window, or ``(None, '')``."""
    start = datetime.fromisoformat(since[:23])
    if start.minute or start.second or start.microsecond:
        try:
            start = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        except OverflowError:  # the last hour of year 9999
            return None, ""
    first, end = start.strftime("%Y-%m-%dT%H"), until[:13]
    return (first, end) if first < end else (None, "")


def _finish(key: Any, sums: list[float], p95: float | None) -> Json:
    requests, failures, prompt, completion, spend, spend_n, lat_sum, lat_n, passed_sum, passed_n = sums
    return {
        "key": key,
        "requests": int(requests),
        "promptTokens": int(prompt),
        "completionTokens": int(completion),
        "spendUsd": spend if spend_n else None,
        "unpricedRequests": int(requests - spend_n),
        "latencyMeanMs": lat_sum / lat_n if lat_n else None,
        "latencyP95Ms": p95,
        "errorRate": failures / requests if requests else None,
        "judgePassRate": passed_sum / passed_n if passed_n else None,
    }


# -- one spend-log row -----------------------------------------------------------------------------

def _time(value: Any, field: str) -> tuple[str, datetime] | None:
    """``(stored form, naive UTC datetime)``. LiteLLM's own form (naive, microseconds) and the
    stored form itself are recognised by shape and sliced rather than reformatted: this runs
    twice per row of a million-row import."""
    if value is None or value == "":
        return None
    if value.__class__ is not str:
        raise BadRow(f"{field} is not an ISO-8601 string")
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        try:
            d = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadRow(f"{field} {value[:40]!r} is not an ISO-8601 time") from None
    canonical = (value[4:5] == "-" and value[7:8] == "-" and value[10:11] == "T" and value[13:14] == ":"
                 and value[19:20] == ".")
    if d.tzinfo is None:
        if canonical and len(value) == 26:
            return value[:23] + "Z", d
        return iso_utc(d), d
    if canonical and len(value) == 24 and value[23] == "Z":
        return value, d.replace(tzinfo=None)
    d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return iso_utc(d), d


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if value.__class__ is not int:
        if value.__class__ is not float or not value.is_integer():
            raise BadRow(f"{field} is not a whole number")
        value = int(value)
    if value < 0:
        raise BadRow(f"{field} is negative ({value})")
    if value > _MAX_INTEGER:
        raise BadRow(f"{field} is too large ({value})")
    return value


def _spend(value: Any) -> float | None:
    if value is None:
        return None  # unknown, never silently 0
    if value.__class__ not in (float, int):
        raise BadRow("spend is not a number")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise BadRow("spend is not a finite number")
    if value < 0:
        raise BadRow(f"spend is negative ({value})")
    return value


def _json_field(value: Any, field: str, kind: type) -> Any:
    """A field that LiteLLM exports either as JSON or as a string holding JSON."""
    if value.__class__ is str:
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise BadRow(f"{field} is a string but not valid JSON") from None
    if value is not None and value.__class__ is not kind:
        raise BadRow(f"{field} must be a JSON {'object' if kind is dict else 'array'}")
    return value


def _text(value: Any) -> str | None:
    """A non-blank string, stripped and interned: model, team and tag names repeat on every row,
    and shared strings make a parsed chunk smaller to pass between processes."""
    if value.__class__ is str:
        value = value.strip()
        return sys.intern(value) if value else None
    return None


@lru_cache(maxsize=4096)
def _skill_key(raw: str) -> str:
    """The canonical skill key (what `oc routing measurement` records), or the raw text when it
    is not a valid key, so an odd tag is still visible rather than dropped."""
    try:
        return str(skillkey.parse(raw))
    except ValidationError:
        return raw


def _skill(tags: list | None, metadata: dict | None) -> str | None:
    """A ``skill:<key>`` request tag (LiteLLM keeps tags in request_tags and metadata.tags), else
    a ``skill`` metadata field."""
    for source in (tags, metadata.get("tags") if metadata else None):
        if source.__class__ is list:
            for tag in source:
                if tag.__class__ is str and tag.startswith("skill:") and tag[6:].strip():
                    return _skill_key(tag[6:].strip())
    for meta in _metadata_levels(metadata):
        raw = _text(meta.get("skill"))
        if raw:
            return _skill_key(raw)
    return None


def _tenant(team_id: Any, metadata: dict | None) -> str | None:
    tenant = _text(team_id)
    if tenant:
        return tenant
    for meta in _metadata_levels(metadata):
        for key in ("user_api_key_team_id", "team_id", "clusterTenant"):
            tenant = _text(meta.get(key))
            if tenant:
                return tenant
    return None


def _metadata_levels(metadata: dict | None) -> tuple[dict, ...]:
    """The metadata object, then what the client sent (LiteLLM nests it as requester_metadata)."""
    if not metadata:
        return ()
    inner = metadata.get("requester_metadata")
    return (metadata, inner) if inner.__class__ is dict else (metadata,)


def spend_log_row(obj: Any) -> tuple:
    """One ``LiteLLM_SpendLogs`` row as the insert tuple of ``_INSERT``; raises BadRow.

    ``model`` is the public model name, the one routing decisions and oc's own rows use: LiteLLM's
    ``model_group``, else its ``model``. LiteLLM's ``model`` (the upstream name) is kept as
    ``upstream_model``. Tenant: ``team_id``, else metadata ``user_api_key_team_id``, ``team_id``
    or ``clusterTenant`` (also looked up in ``metadata.requester_metadata``).
    """
    if obj.__class__ is not dict:
        raise BadRow("not a JSON object")
    get = obj.get
    request_id = get("request_id")
    if request_id.__class__ is not str or not request_id.strip():
        raise BadRow("no request_id")
    start = _time(get("startTime"), "startTime")
    if start is None:
        raise BadRow("no startTime")
    end = _time(get("endTime"), "endTime")
    latency = None
    if end is not None:
        latency = (end[1] - start[1]).total_seconds() * 1000.0
        if latency < 0:
            raise BadRow("endTime is before startTime")
    status = get("status")
    if status is None or status == "" or status == "success":
        status = "success"
    elif status == "failure":
        status = "failure"
    else:
        raise BadRow(f"status {str(status)[:40]!r} is neither 'success' nor 'failure'")
    metadata = _json_field(get("metadata"), "metadata", dict)
    tags = _json_field(get("request_tags"), "request_tags", list)
    request_id = request_id.strip()
    upstream = _text(get("model"))
    group = _text(get("model_group"))
    skill = _skill(tags, metadata)
    tenant = _tenant(get("team_id"), metadata)
    # These are printed in tables and messages: no terminal control sequences get that far.
    for name, text in (("request_id", request_id), ("model", upstream), ("model_group", group), ("skill", skill),
                       ("tenant", tenant)):
        if text is not None and not text.isprintable():
            raise BadRow(f"{name} contains control characters")
    return (
        request_id, group or upstream, group, upstream, skill, tenant,
        _count(get("prompt_tokens"), "prompt_tokens"), _count(get("completion_tokens"), "completion_tokens"),
        _spend(get("spend")), latency, status, start[0], end[0] if end is not None else None,
    )


# A parsed piece of the file: (insert tuples, first bad rows, rows read, bad rows, other tenant's rows).
Chunk = tuple[list[tuple], list[Json], int, int, int]


def _convert(items: Iterable[tuple[int, Any]], label: str, tenant: str | None) -> Chunk:
    """Validate and convert ``(position, object | BadRow)`` pairs; keep only ``tenant``'s rows
    when a tenant identity imports."""
    rows: list[tuple] = []
    samples: list[Json] = []
    read = bad = other = 0
    for position, obj in items:
        read += 1
        try:
            if obj.__class__ is BadRow:
                raise obj
            row = spend_log_row(obj)
        except BadRow as exc:
            bad += 1
            if len(samples) < BAD_ROWS_SHOWN:
                rid = obj.get("request_id") if obj.__class__ is dict else None
                samples.append({label: position, **({"requestId": rid} if rid.__class__ is str else {}),
                                "error": str(exc)})
            continue
        if tenant is not None and row[5] != tenant:
            other += 1
            continue
        rows.append(row)
    return rows, samples, read, bad, other


def _jsonl_items(data: bytes, first_line: int) -> Iterator[tuple[int, Any]]:
    # Decoding the piece once and parsing str lines with raw_decode is ~25% faster than
    # json.loads on each bytes line (which detects the encoding and decodes line by line).
    try:
        lines: list[str | None] = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = [_utf8(line) for line in data.split(b"\n")]
    raw_decode = _DECODER.raw_decode
    for offset, line in enumerate(lines):
        if line is None:
            yield first_line + offset, BadRow("not valid UTF-8")
            continue
        text = line.strip()
        if not text:
            continue
        try:
            obj, end = raw_decode(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, nesting too deep
            yield first_line + offset, BadRow(f"not valid JSON ({str(exc).split(':')[0]})")
            continue
        if end != len(text):
            yield first_line + offset, BadRow("not valid JSON (extra data after the value)")
            continue
        yield first_line + offset, obj


def _utf8(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_jsonl_chunk(data: bytes, first_line: int, tenant: str | None) -> Chunk:
    """Parse whole JSONL lines (``data`` ends at a line break); runs in a worker process."""
    return _convert(_jsonl_items(data, first_line), "line", tenant)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the importing process, which stops them in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- reading a spend-log file ----------------------------------------------------------------------

class _Source:
    """Turns a JSON array or JSONL byte stream into Chunks without holding the file in memory,
    and counts the bytes read (``consumed``) for progress.

    JSONL, the format of large exports, is cut into pieces of whole lines that worker processes
    parse in parallel (JSON decoding is most of an import's work) while this process inserts;
    at most a few pieces are in flight, so memory stays bounded. A JSON array is decoded element
    by element in this process, with at most MAX_ELEMENT_CHARS of look-ahead per element.
    """

    def __init__(self, stream: io.BufferedReader, size: int, tenant: str | None) -> None:
        self.stream = stream
        self.size = size
        self.tenant = tenant
        self.consumed = 0
        head = stream.peek(READ_CHUNK)
        if head.startswith(codecs.BOM_UTF8):
            head = head[len(codecs.BOM_UTF8):]
        self.format = "array" if head.lstrip()[:1] == b"[" else "jsonl"

    def chunks(self) -> Iterator[Chunk]:
        if self.format == "array":
            yield from self._array_chunks()
            return
        workers = _worker_count(self.size)
        if workers == 0:
            for data, first_line in self._line_pieces():
                yield parse_jsonl_chunk(data, first_line, self.tenant)
            return
        yield from self._parallel(workers)

    def _line_pieces(self) -> Iterator[tuple[bytes, int]]:
        line = 1
        first = True
        while True:
            data = self.stream.read(READ_CHUNK)
            if not data:
                return
            data += self.stream.readline()  # finish the last line of the piece
            self.consumed += len(data)
            if first and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
            first = False
            yield data, line
            line += data.count(b"\n")

    def _parallel(self, workers: int) -> Iterator[Chunk]:
        # Not "fork": this process may run threads (a progress bar), and a forked child inherits
        # their locks. A fork server starts workers from a clean process; spawn where it is missing.
        import multiprocessing  # the parallel parser: imported only by an import of a large file
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_sigint)
        pending: deque[Future[Chunk]] = deque()
        pieces = self._line_pieces()
        try:
            while True:
                for data, first_line in pieces:
                    pending.append(pool.submit(parse_jsonl_chunk, data, first_line, self.tenant))
                    if len(pending) >= 2 * workers + 2:
                        break
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _array_chunks(self) -> Iterator[Chunk]:
        items: list[tuple[int, Any]] = []
        for item in self._elements():
            items.append(item)
            if len(items) >= 2000:
                yield _convert(items, "index", self.tenant)
                items = []
        if items:
            yield _convert(items, "index", self.tenant)

    def _elements(self) -> Iterator[tuple[int, Any]]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        raw_decode = json.JSONDecoder().raw_decode
        buf, pos, eof, index = "", 0, False, 0

        def fill() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            chunk = self.stream.read(READ_CHUNK)
            self.consumed += len(chunk)
            eof = not chunk
            buf = buf[pos:] + decoder.decode(chunk, final=eof)
            pos = 0
            return True

        def skip_space() -> bool:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf):
                    return True
                if not fill():
                    return False

        def broken(why: str) -> tuple[int, BadRow]:
            return index, BadRow(f"{why}; the rest of the array was not read")

        try:
            skip_space()
            pos += 1  # the opening bracket
            if not skip_space():
                yield broken("the array is not closed")
                return
            if buf[pos] == "]":
                return
            while True:
                try:
                    obj, end = raw_decode(buf, pos)
                    if end == len(buf) and not eof:
                        raise ValueError("the element may continue in the next chunk")
                except (ValueError, RecursionError):
                    if len(buf) - pos < MAX_ELEMENT_CHARS and fill():
                        continue
                    yield broken("not valid JSON")
                    return
                pos = end
                yield index, obj
                index += 1
                if not skip_space():
                    yield broken("the array is not closed")
                    return
                if buf[pos] == "]":
                    return
                if buf[pos] != ",":
                    yield broken(f"expected ',' or ']' after element {index - 1}")
                    return
                pos += 1
                if not skip_space():
                    yield broken("the array is not closed")
                    return
        except UnicodeDecodeError:
            yield broken("the file is not UTF-8")


def _reading(chunks: Iterator[Chunk], path: str, counts: Json) -> Iterator[Chunk]:
    """``chunks``, with a failure to read the file turned into an error that says what is kept."""
    try:
        yield from chunks
    except OSError as exc:
        raise OcError(f"usage import: reading {'stdin' if path == '-' else path} failed after {counts['rows']:,} rows",
                      exc.strerror or str(exc), code="READ_ERROR",
                      hint="the batches committed before the failure are kept; import the file again to complete it"
                      ) from None


def _worker_count(size: int) -> int:
    """Parser processes for a JSONL file: none for small files (starting them costs more than it
    saves), else one per spare core, at most 3 (this process inserts, and that caps the speed)."""
    if 0 < size < PARALLEL_MIN_BYTES:
        return 0
    return max(0, min(3, (os.cpu_count() or 1) - 1))


def _open(path: str) -> tuple[io.BufferedReader, int, bool]:
    """The byte stream, its size when known (0 for stdin), and whether we opened it."""
    if path == "-":
        stdin = sys.stdin.buffer
        return (stdin if hasattr(stdin, "peek") else io.BufferedReader(stdin)), 0, False
    if Path(path).is_dir():
        raise ValidationError(f"FILE: {path} is a directory", "give a JSON or JSONL spend-log file")
    try:
        fh = open(path, "rb", buffering=READ_CHUNK)
        size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise ValidationError(f"FILE: cannot read {path}", exc.strerror or str(exc)) from None
    return fh, size, True


# -- the mixin ---------------------------------------------------------------------------------------

def usage_row(r: sqlite3.Row) -> Json:
    return {
        "requestId": r["request_id"],
        "source": r["source"],
        "kind": r["kind"],
        "model": r["model"],
        "modelGroup": r["model_group"],
        "upstreamModel": r["upstream_model"],
        "skill": r["skill"],
        "clusterTenant": r["tenant"],
        "promptTokens": r["prompt_tokens"],
        "completionTokens": r["completion_tokens"],
        "spendUsd": r["spend_usd"],
        "latencyMs": r["latency_ms"],
        "status": r["status"],
        "startTime": r["start_time"],
        "endTime": r["end_time"],
        "measurementId": r["measurement_id"],
        "passed": None if r["passed"] is None else bool(r["passed"]),
    }


class UsageMixin(LocalBase):
    # -- import ----------------------------------------------------------------------------------
    def import_usage(self, path: str, *, progress: Progress | None = None) -> Json:
        """Import LiteLLM spend logs (a JSON array or JSONL; ``-`` is stdin) as traffic rows.

        Idempotent by ``request_id``: a row already stored is skipped and counted in ``skipped``.
        Rows that fail validation are skipped, counted in ``bad`` and (the first BAD_ROWS_SHOWN)
        listed by line (JSONL, 1-based) or index (array, 0-based); the others are imported. A
        tenant identity imports only its own tenant's rows (the rest: ``skippedOtherTenant``).

        Streaming: the file is never loaded whole. JSONL is read in pieces of whole lines that
        worker processes parse while this process inserts; a JSON array is decoded element by
        element with a bounded look-ahead (see ``_Source``). Memory is bounded by two batches of
        parsed rows (about 100 MB each at BATCH_ROWS = 200,000, the size that measured fastest:
        every commit rewrites the touched pages of the random-order indexes, so fewer, larger
        batches write less).

        Nothing is half-written: rows are inserted in transactions of BATCH_ROWS, each whole or
        not at all, together with their share of the metrics rollup. An I/O error, Ctrl-C or
        kill during the import leaves exactly the batches committed before it; importing the file
        again completes it, since rows already stored are skipped. One audit entry
        (``UsageImported``) records the counts, written with the last batch or, after an
        interruption, on the way out (marked ``interrupted``).
        """
        stream, size, owned = _open(path)
        counts = {"rows": 0, "imported": 0, "skipped": 0, "skippedOtherTenant": 0, "bad": 0}
        bad_rows: list[Json] = []
        batch: list[tuple] = []
        # Inserting runs in one writer thread (SQLite releases the GIL while it works), so the next
        # batch is parsed while the previous one is written; at most one batch is in flight.
        from concurrent.futures import ThreadPoolExecutor

        writer = ThreadPoolExecutor(1, thread_name_prefix="oc-usage-writer")
        in_flight: Future[None] | None = None
        previous_cache = self.conn.execute("PRAGMA cache_size").fetchone()[0]
        self.conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
        try:
            source = _Source(stream, size, self.tenant)
            for rows, samples, read, bad, other in _reading(source.chunks(), path, counts):
                counts["rows"] += read
                counts["bad"] += bad
                counts["skippedOtherTenant"] += other
                bad_rows.extend(samples[:BAD_ROWS_SHOWN - len(bad_rows)])
                batch.extend(rows)
                if len(batch) >= BATCH_ROWS:
                    if in_flight is not None:
                        in_flight.result()
                    in_flight = writer.submit(self._write_batch, batch, counts, None)
                    batch = []
                if progress is not None:
                    progress(source.consumed, size, f"{counts['rows']:,} rows read")
            if in_flight is not None:
                in_flight.result()
            in_flight = writer.submit(self._write_batch, batch, counts, path)
            in_flight.result()
        except BaseException:
            if in_flight is not None:
                with contextlib.suppress(BaseException):
                    in_flight.result()  # let the batch being written commit (or roll back) whole
            if counts["imported"]:
                with contextlib.suppress(Exception):  # the original error is the one to report
                    with self.store.write() as c:
                        self._audit_import(c, path, counts, interrupted=True)
            raise
        finally:
            writer.shutdown(wait=True)
            self.conn.execute(f"PRAGMA cache_size = {previous_cache}")
            if owned:
                stream.close()
        return {**counts, "format": source.format, "badRows": bad_rows}

    def _write_batch(self, batch: list[tuple], counts: Json, final_path: str | None) -> None:
        """One transaction: the rows (duplicates ignored), their share of the hourly rollup and,
        for the last batch (``final_path`` set), the audit entry. Updates counts' imported and
        skipped (only this thread writes those two)."""
        with self.store.write() as c:
            if batch:
                last_id = c.execute("SELECT ifnull(max(id), 0) FROM usage").fetchone()[0]
                inserted = c.executemany(_INSERT, batch).rowcount
                if inserted:
                    c.execute(ROLLUP_ADD_IMPORTED_AFTER, (last_id,))
                counts["imported"] += inserted
                counts["skipped"] += len(batch) - inserted
            if final_path is not None:
                self._audit_import(c, final_path, counts, interrupted=False)

    def _audit_import(self, c: sqlite3.Connection, path: str, counts: Json, *, interrupted: bool) -> None:
        source = "stdin" if path == "-" else path
        state = "interrupted after importing" if interrupted else "imported"
        self.audit(c, "UsageImported", "Usage/*",
                   f"{state} {plural(counts['imported'], 'usage row')} from {source} "
                   f"({plural(counts['skipped'], 'duplicate')}, {counts['bad']:,} bad, "
                   f"{counts['skippedOtherTenant']:,} of other tenants)",
                   tenant=self.tenant, after={**counts, "file": source, "interrupted": interrupted})

    # -- list --------------------------------------------------------------------------------------
    def list_usage(self, params: Json) -> list[Json]:
        """Recent usage rows, newest first. params: since, until, model, skill, clusterTenant,
        kind, limit (default 50)."""
        limit = params.get("limit") or 50
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"--limit must be a positive integer, got {limit!r}")
        where, args = self._tenant_filter(params.get("clusterTenant"))
        now = _utcnow()
        if params.get("since"):
            where.append("start_time >= ?")
            args.append(iso_utc(parse_window_bound(params["since"], "--since", now)))
        if params.get("until"):
            where.append("start_time < ?")
            args.append(iso_utc(parse_window_bound(params["until"], "--until", now)))
        if params.get("kind") and params["kind"] not in KINDS:
            raise ValidationError(f"--kind: unknown kind {params['kind']!r}", f"expected one of: {', '.join(KINDS)}")
        for key in ("model", "kind"):
            if params.get(key):
                where.append(f"{key} = ?")
                args.append(params[key])
        if params.get("skill"):
            where.append("skill = ?")
            args.append(_skill_key(params["skill"].strip()))
        sql = "SELECT * FROM usage" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.conn.execute(sql + " ORDER BY start_time DESC, id DESC LIMIT ?", (*args, limit))
        return [usage_row(r) for r in rows]

    def _tenant_filter(self, cluster_tenant: str | None) -> tuple[list[str], list[Any]]:
        """Operators see every row (or one tenant's with --cluster-tenant); a tenant identity sees
        only its own, and asking for another tenant's is refused rather than answered empty."""
        if self.tenant is not None:
            if cluster_tenant and cluster_tenant != self.tenant:
                raise ForbiddenError(
                    f"--cluster-tenant {cluster_tenant}: not allowed for ClusterTenant '{self.tenant}'",
                    "a tenant identity sees only its own usage",
                    code="FORBIDDEN_SCOPE",
                    hint="drop --cluster-tenant, or use an operator context",
                )
            return ["tenant = ?"], [self.tenant]
        if cluster_tenant:
            return ["tenant = ?"], [cluster_tenant]
        return [], []

    # -- metrics -----------------------------------------------------------------------------------
    def metrics(self, params: Json) -> Json:
        """Requests, tokens, spend, latency (mean, p95), error rate and judge pass rate per group,
        plus totals, over a window of usage rows.

        params: since (default 7d), until (default now), by (model|skill|tenant|day, default
        model), clusterTenant. ``query`` is the control plane's pass-through and is refused here.

        Sums and means come from the hourly rollup for the whole hours of the window and from the
        rows themselves for the partial hours at its edges. p95 is the nearest-rank percentile:
        the ceil(0.95 n)-th smallest latency of the group's n rows that have one.
        """
        if params.get("query") is not None:
            raise ValidationError("--query is for remote mode (the control plane's Langfuse metrics query)",
                                  "local mode computes metrics itself",
                                  hint="use --since, --until, --by and --cluster-tenant")
        by = params.get("by") or "model"
        if by not in GROUP_KEYS:
            raise ValidationError(f"--by: unknown grouping {by!r}", f"expected one of: {', '.join(GROUP_KEYS)}")
        since, until = window(params)
        tenant_where, tenant_args = self._tenant_filter(params.get("clusterTenant"))
        with self.store.read() as c:
            groups = self._sums(c, by, since, until, tenant_where, tenant_args)
            p95 = self._p95(c, by, since, until, tenant_where, tenant_args, groups)
        rows = [_finish(key, sums, p95.get(key)) for key, sums in groups.items()]
        if by == "day":
            rows.sort(key=lambda r: r["key"] or "")
        else:
            rows.sort(key=lambda r: (-(r["spendUsd"] or 0.0), -r["requests"], r["key"] or ""))
        totals = [sum(col) for col in zip(*groups.values())] if groups else [0] * len(_SUM_COLUMNS)
        total = _finish(None, totals, p95.get(_TOTAL))
        del total["key"]
        return {"by": by, "since": since, "until": until,
                "clusterTenant": self.tenant or params.get("clusterTenant") or None,
                "rows": rows, "totals": total}

    def _sums(self, c: sqlite3.Connection, by: str, since: str, until: str, tenant_where: list[str],
              tenant_args: list[Any]) -> dict[Any, list[float]]:
        """Per group, the _SUM_COLUMNS sums over the window: imported traffic from the rollup for
        the whole hours and from the rows for the partial hours at the edges, plus oc's own calls
        (not in the rollup) from the rows."""
        tenant = "".join(f" AND {w}" for w in tenant_where)
        first_hour, end_hour = _whole_hours(since, until)
        if first_hour is None:
            parts = [(_RAW_SUMS.format(key=GROUP_KEYS[by], index="") + tenant, [since, until, *tenant_args])]
        else:
            imported = _RAW_SUMS.format(key=GROUP_KEYS[by], index="") + " AND source = 'import'" + tenant
            parts = [
                (imported, [since, first_hour + _HOUR_SUFFIX, *tenant_args]),
                (imported, [end_hour + _HOUR_SUFFIX, until, *tenant_args]),
                (_ROLLUP_SUMS.format(key=_ROLLUP_KEYS[by]) + tenant, [first_hour, end_hour, *tenant_args]),
                (_RAW_SUMS.format(key=GROUP_KEYS[by], index="INDEXED BY usage_own_start")
                 + " AND source <> 'import'" + tenant, [since, until, *tenant_args]),
            ]
        sums = ", ".join(f"total(c{i})" for i in range(1, len(_SUM_COLUMNS) + 1))
        union = " UNION ALL ".join(sql for sql, _ in parts)
        args = [a for _, part_args in parts for a in part_args]
        groups: dict[Any, list[float]] = {}
        for k, *values in c.execute(f"SELECT k, {sums} FROM ({union}) GROUP BY k", args):
            if values[0] > 0:
                groups[k] = values
        return groups

    def _p95(self, c: sqlite3.Connection, by: str, since: str, until: str, tenant_where: list[str],
             tenant_args: list[Any], groups: dict[Any, list[float]]) -> dict[Any, float]:
        """Nearest-rank p95 per group and over all rows (key _TOTAL), exact, from usage_model_latency.

        From the top, the p95 of n latencies is the t-th largest with t = n - ceil(0.95 n) + 1
        (n comes from the sums). By model: one OFFSET walk down each model's index entries, in
        SQLite. Totals and other groupings: a merge of every model's walk, largest first, counting
        per group until each group (and the total) has seen its t; that is the top ~5% of the rows
        when groups have similar latencies, and at most every row of the window.
        """
        cond = ("latency_ms IS NOT NULL AND start_time >= ? AND start_time < ?"
                + "".join(f" AND {w}" for w in tenant_where))
        args = [since, until, *tenant_args]
        need = {k: int(s[_LATENCY_N]) - _rank(s[_LATENCY_N]) + 1 for k, s in groups.items() if s[_LATENCY_N]}
        n_total = sum(int(s[_LATENCY_N]) for s in groups.values())
        if not n_total:
            return {}
        out: dict[Any, float] = {}
        if by == "model":
            pick = (f"SELECT latency_ms FROM usage INDEXED BY usage_model_latency WHERE model IS ? AND {cond}"
                    " ORDER BY latency_ms DESC LIMIT 1 OFFSET ?")
            for model, t in need.items():
                row = c.execute(pick, [model, *args, t - 1]).fetchone()
                if row is not None:
                    out[model] = row[0]
            models = list(need)
            remaining: dict[Any, int] = {}
        else:
            models = self._window_models(c, since, until, tenant_where, tenant_args)
            remaining = dict(need)
        key = "NULL" if by == "model" else GROUP_KEYS[by]
        walk = (f"SELECT latency_ms, {key} FROM usage INDEXED BY usage_model_latency WHERE model IS ? AND {cond}"
                " ORDER BY latency_ms DESC")
        cursors = []
        for model in models:
            cur = c.cursor()
            cur.row_factory = None
            cursors.append(cur.execute(walk, [model, *args]))
        t_total = n_total - _rank(n_total) + 1
        seen: dict[Any, int] = defaultdict(int)
        position = 0
        try:
            for latency, k in heapq.merge(*cursors, key=itemgetter(0), reverse=True):
                position += 1
                if position == t_total:
                    out[_TOTAL] = latency
                if remaining:
                    seen[k] += 1
                    if seen[k] == remaining.get(k):
                        out[k] = latency
                        del remaining[k]
                if position >= t_total and not remaining:
                    break
        finally:
            for cur in cursors:
                cur.close()
        return out

    def _window_models(self, c: sqlite3.Connection, since: str, until: str, tenant_where: list[str],
                       tenant_args: list[Any]) -> list[Any]:
        """The models with rows in the window (the walks of `_p95` start from each)."""
        return list(self._sums(c, "model", since, until, tenant_where, tenant_args))


def _rank(n: float) -> int:
    """ceil(0.95 n), in integers (no float rounding at exact multiples)."""
    return -(-int(n) * 95 // 100)
