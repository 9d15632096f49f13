#!/usr/bin/env python3
"""A ClickHouse-compatible HTTP endpoint on top of one persistent chDB session.

PulseStream's Go services talk to ClickHouse with clickhouse-go/v2, which needs a
server >= 25.8. No package registry reachable here ships such a server, but the
PyPI package `chdb` embeds a current ClickHouse engine in-process. This program
serves the subset of the ClickHouse HTTP interface that clickhouse-go/v2 uses
(`Protocol: clickhouse.HTTP`) on top of that engine, so the same Go code runs
against it and against a real server.

What it speaks (see README.md next to this file for the full list and limits):

* `GET/POST /?query=...` and/or the query in the POST body. When both are given
  the URL query comes first and the body is appended (after a newline), as
  ClickHouse does; for `INSERT ... FORMAT <fmt>` in the URL the body is the data
  (any input format, `Native` included), spooled to a temporary file that the
  engine reads with `INSERT ... FROM INFILE`.
* `database` parameter or `X-ClickHouse-Database` header, `default_format`
  parameter or `X-ClickHouse-Format` header, `query_id`, `param_<name>` query
  parameters, and every other parameter the engine knows as a setting (applied
  for that one request, then restored). Client-only parameters are ignored.
* Errors: ClickHouse's own exception text in the body, `X-ClickHouse-Exception-Code`
  header, HTTP 400/404/500/501 like ClickHouse.
* `Content-Encoding` gzip/deflate/xz/bz2 on request bodies; gzip/deflate
  responses when the request sets `enable_http_compression=1` and accepts them.
* `/ping` and `/` answer "Ok.\n".
* Optional, for tests of secured clients: `--user`/`--password` (every request but
  `/ping` must log in, by basic auth, `X-ClickHouse-User`/`-Key` or `user`/`password`
  parameters, else 401 with code 516 AUTHENTICATION_FAILED as ClickHouse answers)
  and `--tls-cert`/`--tls-key` (https; with `--tls-ca` client certificates signed by
  that CA are required).

The engine is driven through one session. Engine calls are serialized with a
lock (the per-request database and settings are session state), HTTP handling
stays concurrent: bodies are received and responses sent outside the lock.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import hmac
import json
import logging
import lzma
import os
import re
import shutil
import signal
import struct
import ssl
import sys
import tempfile
import threading
import time
import uuid
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

LOG = logging.getLogger("chdb-server")

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

# Error codes this program raises itself (the engine's own errors keep their codes).
BAD_ARGUMENTS = (36, "BAD_ARGUMENTS")
NOT_IMPLEMENTED = (48, "NOT_IMPLEMENTED")
AUTHENTICATION_FAILED = (516, "AUTHENTICATION_FAILED")
UNKNOWN_FORMAT = (73, "UNKNOWN_FORMAT")
UNSUPPORTED_METHOD = (1, "UNSUPPORTED_METHOD")
LOGICAL_ERROR = (49, "LOGICAL_ERROR")

_CODE_RE = re.compile(r"Code:\s*(\d+)\.")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")

# Status codes by error name, the way ClickHouse's HTTP handler groups them:
# malformed input is the client's fault (400), unknown things are 404.
_BAD_REQUEST_NAMES = {
    "SYNTAX_ERROR", "BAD_ARGUMENTS", "TYPE_MISMATCH", "INCORRECT_DATA", "INCORRECT_QUERY",
    "CANNOT_READ_ALL_DATA", "UNKNOWN_QUERY_PARAMETER", "BAD_QUERY_PARAMETER",
    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", "NUMBER_OF_ARGUMENTS_DOESNT_MATCH",
    "TOO_DEEP_AST", "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "EMPTY_QUERY",
    "NUMBER_OF_COLUMNS_DOESNT_MATCH", "INCORRECT_NUMBER_OF_COLUMNS", "NO_SUCH_COLUMN_IN_TABLE",
    "DUPLICATE_COLUMN", "THERE_IS_NO_COLUMN", "UNEXPECTED_END_OF_FILE",
}


class ClickHouseError(Exception):
    """An error with ClickHouse's code, name and text."""

    def __init__(self, code: int, name: str, text: str):
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text

    @classmethod
    def own(cls, code_name: tuple[int, str], message: str) -> "ClickHouseError":
        code, name = code_name
        return cls(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_engine(cls, exc: BaseException) -> "ClickHouseError":
        """Keeps the engine's exception text, dropping chDB's Python-side prefixes."""
        text = str(exc).strip()
        m = _CODE_RE.search(text)
        if not m:
            return cls(LOGICAL_ERROR[0], LOGICAL_ERROR[1],
                       f"Code: 49. DB::Exception: {text or type(exc).__name__}. (LOGICAL_ERROR)")
        text = text[m.start():]
        names = _NAME_RE.findall(text)
        return cls(int(m.group(1)), names[-1] if names else "", text)

    def http_status(self) -> int:
        if self.name == "AUTHENTICATION_FAILED":
            return 401
        if self.name == "NOT_IMPLEMENTED":
            return 501
        if self.name.startswith("UNKNOWN_") or self.name.startswith("NO_SUCH_"):
            return 404 if self.name not in _BAD_REQUEST_NAMES else 400
        if (self.name in _BAD_REQUEST_NAMES or self.name.startswith("CANNOT_PARSE")
                or self.name.startswith("ILLEGAL_")):
            return 400
        return 500


# --------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------

# Parameters that steer the HTTP interface itself (or belong to a client) and are
# never passed to the engine as settings.
CLIENT_ONLY_PARAMS = {
    "query", "database", "default_format", "query_id", "quota_key", "user", "password",
    "compress", "decompress", "buffer_size", "wait_end_of_query", "session_id",
    "session_timeout", "session_check", "close_session", "client_protocol_version",
    "stacktrace", "role", "query_plan", "http_response_headers",
}
# Settings that would wedge the one shared session if applied with SET (e.g. once
# readonly=1 is set, the session can no longer restore it). Ignored, with a log line.
UNSAFE_SETTINGS = {"readonly", "allow_ddl", "profile"}

_INSERT_RE = re.compile(r"\A\s*INSERT\b", re.IGNORECASE)
_SESSION_STMT_RE = re.compile(r"\A\s*(USE|SET)\b", re.IGNORECASE)
_WS_RE = re.compile(r"\s+")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
HELLO_QUERY = "SELECT displayName(), version(), revision(), timezone()"
# Keywords that make an INSERT a query (its rows come from the statement itself).
_NOT_DATA_INSERT = {"SELECT", "WITH", "VALUES", "INFILE"}


def top_level_words(sql: str):
    """Yields (WORD, start, end) for the bare words of `sql` outside parentheses,
    string literals, quoted identifiers and comments."""
    i, n, depth = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i += 1
            while i < n and sql[i] != c:
                i += 2 if sql[i] == "\\" else 1
            i += 1
        elif c == "-" and sql.startswith("--", i) or c == "#" and sql.startswith("#!", i):
            nl = sql.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif c == "/" and sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif c in "([{":
            depth += 1
            i += 1
        elif c in ")]}":
            depth -= 1
            i += 1
        elif c in _NAME_CHARS:
            j = i
            while j < n and sql[j] in _NAME_CHARS:
                j += 1
            if depth == 0:
                yield sql[i:j].upper(), i, j
            i = j
        else:
            i += 1


def split_insert_format(query: str) -> tuple[str, str] | None:
    """For `INSERT ... FORMAT X` whose data is sent separately, returns
    (the statement without the FORMAT clause, X); None for any other query."""
    words = list(top_level_words(query))
    if not words or words[0][0] != "INSERT" or len(words) < 3:
        return None
    (kw, kw_start, _), (_, name_start, name_end) = words[-2], words[-1]
    if kw != "FORMAT" or query[name_end:].strip(" \t\r\n;"):
        return None
    if any(w in _NOT_DATA_INSERT for w, _, _ in words[:-2]):
        return None
    return query[:kw_start].rstrip(), query[name_start:name_end]


def split_inline_insert(head: bytes) -> tuple[str, str, int] | None:
    """For a body `INSERT ... FORMAT X <data>`, returns (statement, X, data offset).

    ClickHouse's rule: the data starts after the first newline following the
    format name, or after the blanks that follow it when there is no newline.
    """
    text = head.decode("latin-1")  # one char per byte: offsets stay byte offsets
    if not _INSERT_RE.match(text):
        return None
    words = top_level_words(text)
    for word, start, _ in words:
        if word in _NOT_DATA_INSERT:
            return None
        if word == "FORMAT":
            name = next(words, None)
            if name is None:
                return None
            pos = name[2]
            while pos < len(head) and head[pos:pos + 1] in (b" ", b"\t"):
                pos += 1
            if head[pos:pos + 2] == b"\r\n":
                pos += 2
            elif head[pos:pos + 1] == b"\n":
                pos += 1
            try:
                stmt = head[:start].decode("utf-8").rstrip()
            except UnicodeDecodeError:
                return None
            return stmt, text[name[1]:name[2]], pos
    return None


def split_settings_clause(stmt: str) -> tuple[str, str]:
    """`INSERT INTO t (a) SETTINGS x=1` -> ("INSERT INTO t (a)", "SETTINGS x=1")."""
    last = None
    for word, start, _ in top_level_words(stmt):
        if word == "SETTINGS":
            last = start
    if last is None:
        return stmt, ""
    return stmt[:last].rstrip(), stmt[last:].strip()


def short_query(query: str, limit: int = 120) -> str:
    """The query for the log: one line, no inline data."""
    q = _WS_RE.sub(" ", query).strip()
    if _INSERT_RE.match(q):
        m = re.search(r"\b(VALUES|FORMAT\s+\w+)", q, re.IGNORECASE)
        if m:
            q = q[:m.end()]
    return q if len(q) <= limit else q[:limit] + "..."


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --------------------------------------------------------------------------------------
# Native encoding for the clickhouse-go handshake
# --------------------------------------------------------------------------------------

CUSTOM_SERIALIZATION_REVISION = 54454


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _native_str(s: str | bytes) -> bytes:
    b = s.encode("utf-8") if isinstance(s, str) else s
    return _uvarint(len(b)) + b


def encode_native_block(columns: list[tuple[str, str, list]], revision: int) -> bytes:
    """One Native block for String and UInt32 columns, in a client protocol revision."""
    out = bytearray()
    if revision > 0:
        # BlockInfo: field 1 is_overflows=false, field 2 bucket_num=-1, end marker.
        out += _uvarint(1) + b"\x00" + _uvarint(2) + struct.pack("<i", -1) + _uvarint(0)
    rows = len(columns[0][2]) if columns else 0
    out += _uvarint(len(columns)) + _uvarint(rows)
    for name, typ, values in columns:
        out += _native_str(name) + _native_str(typ)
        if revision >= CUSTOM_SERIALIZATION_REVISION:
            out += b"\x00"  # no custom serialization
        for v in values:
            if typ == "String":
                out += _native_str(v)
            elif typ == "UInt32":
                out += struct.pack("<I", int(v))
            else:  # pragma: no cover - only used for the handshake columns above
                raise ValueError(typ)
    return bytes(out)


# --------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------

class Result:
    __slots__ = ("data", "read_rows", "read_bytes", "written_rows", "written_bytes")

    def __init__(self, data=b"", read_rows=0, read_bytes=0, written_rows=0, written_bytes=0):
        self.data = data
        self.read_rows = read_rows
        self.read_bytes = read_bytes
        self.written_rows = written_rows
        self.written_bytes = written_bytes


class Engine:
    """One chDB session; every call into it holds self.lock."""

    def __init__(self, data_dir: str):
        import chdb  # noqa: F401  (imported here so --help works without chdb)
        from chdb import session as chs

        self.chdb_version = getattr(chdb, "__version__", "?")
        os.makedirs(data_dir, exist_ok=True)
        self.lock = threading.Lock()
        self.session = chs.Session(os.path.abspath(data_dir))
        self.engine_version = self._scalar("SELECT version()")
        self.timezone = self._scalar("SELECT timezone()")
        self.display_name = self._scalar("SELECT displayName()")
        self.output_formats = set(self._column("SELECT name FROM system.formats WHERE is_output"))
        self.current_db = self._scalar("SELECT currentDatabase()")
        self.default_db = self.current_db
        rows = self._rows("SELECT name, value, changed FROM system.settings")
        self.setting_names = {r[0] for r in rows}
        # What the session holds when no request has changed anything.
        self.baseline = {r[0]: r[1] for r in rows}
        self.baseline_changed = {r[0]: r[1] for r in rows if r[2] == "1"}
        self.ignored_logged: set[str] = set()

    # --- raw helpers (caller holds the lock, or it is __init__) ---------------------

    def _raw(self, sql: str, fmt: str = "TabSeparated", params=None):
        try:
            return self.session.query(sql, fmt, params=params or None)
        except Exception as exc:  # chDB raises ChdbError / RuntimeError
            raise ClickHouseError.from_engine(exc) from None

    def _rows(self, sql: str) -> list[list[str]]:
        text = self._raw(sql, "JSONCompactEachRow").bytes().decode("utf-8")
        return [[_text(v) for v in json.loads(line)] for line in text.split("\n") if line]

    def _column(self, sql: str) -> list[str]:
        return [r[0] for r in self._rows(sql)]

    def _scalar(self, sql: str) -> str:
        rows = self._rows(sql)
        return rows[0][0] if rows else ""

    # --- per-request session state ----------------------------------------------------

    def _use(self, database: str) -> None:
        if database and database != self.current_db:
            self._raw("USE " + quote_ident(database))
            self.current_db = database

    def _apply_settings(self, settings: dict[str, str]) -> list[str]:
        """SETs the request's settings; returns the names to restore afterwards."""
        assignments, names = [], []
        for name, value in settings.items():
            if name in UNSAFE_SETTINGS or name not in self.setting_names:
                if name not in self.ignored_logged:
                    self.ignored_logged.add(name)
                    LOG.warning("ignoring parameter %r: not a setting this engine applies per query", name)
                continue
            if self.baseline.get(name) == value:
                continue
            assignments.append(f"{quote_ident(name)} = {quote_literal(value)}")
            names.append(name)
        if assignments:
            try:
                self._raw("SET " + ", ".join(assignments))
            except ClickHouseError:  # e.g. a bad value: put back whatever did change
                self._restore_settings(names)
                raise
        return names

    def _restore_settings(self, names: list[str]) -> None:
        if not names:
            return
        parts = []
        for name in names:
            if name in self.baseline_changed:
                parts.append(f"{quote_ident(name)} = {quote_literal(self.baseline_changed[name])}")
            else:
                parts.append(f"{quote_ident(name)} = DEFAULT")
        try:
            self._raw("SET " + ", ".join(parts))
        except ClickHouseError as exc:  # never expected; the session would be left changed
            LOG.error("could not restore settings %s: %s", names, exc.text)

    def _after_session_statement(self) -> None:
        """A client's own USE or SET must not outlive its request (as in ClickHouse)."""
        self.current_db = self._scalar("SELECT currentDatabase()")
        changed = dict(self._rows("SELECT name, value FROM system.settings WHERE changed"))
        stale = [n for n, v in changed.items() if self.baseline_changed.get(n) != v]
        stale += [n for n in self.baseline_changed if n not in changed]
        self._restore_settings(stale)

    # --- the two operations -----------------------------------------------------------

    def query(self, sql: str, fmt: str, database: str, settings: dict[str, str],
              params: dict[str, str]) -> Result:
        with self.lock:
            self._use(database)
            restore = self._apply_settings(settings)
            try:
                res = self._raw(sql, fmt, params)
                out = Result(res.bytes(), _call(res, "rows_read"), _call(res, "bytes_read"),
                             _call(res, "rows_written"), _call(res, "bytes_written"))
            finally:
                self._restore_settings(restore)
                if _SESSION_STMT_RE.match(sql):
                    self._after_session_statement()
            return out

    def insert(self, stmt: str, fmt: str, path: str, database: str,
               settings: dict[str, str]) -> Result:
        """INSERT `stmt` (no FORMAT clause) with the data in the file at `path`.

        The engine reads the file itself (`INSERT ... FROM INFILE`), which keeps
        ClickHouse's INSERT semantics (column list, defaults, constraints, input
        format settings) and its errors. chDB's streaming inserter is not used: in
        chdb 4.4 it reports success for a batch that a CHECK constraint rejected.
        """
        head, settings_clause = split_settings_clause(stmt)
        sql = f"{head} FROM INFILE {quote_literal(path)} COMPRESSION 'none'"
        if settings_clause:
            sql += " " + settings_clause
        sql += f" FORMAT {fmt}"
        with self.lock:
            self._use(database)
            restore = self._apply_settings(settings)
            try:
                res = self._raw(sql)
                return Result(b"", written_rows=_call(res, "rows_written"),
                              written_bytes=_call(res, "bytes_written"))
            finally:
                self._restore_settings(restore)

    def hello(self, revision: int) -> bytes:
        """clickhouse-go's HTTP handshake, answered in the client's protocol revision.

        chDB writes Native in revision 0 (no BlockInfo, no per-column serialization
        flag), whatever client_protocol_version says. clickhouse-go decodes every
        later result with the revision the handshake reports, so reporting 0 makes
        it read exactly what the engine writes. Only this one answer has to be in
        the client's revision: the driver decodes it before it knows the server's.
        """
        return encode_native_block([
            ("displayName()", "String", [self.display_name]),
            ("version()", "String", [self.engine_version]),
            ("revision()", "UInt32", [0]),
            ("timezone()", "String", [self.timezone]),
        ], revision)

    def close(self) -> None:
        with self.lock:
            self.session.close()


def _text(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return v if isinstance(v, str) else json.dumps(v)


def _call(obj, name: str) -> int:
    fn = getattr(obj, name, None)
    try:
        return int(fn()) if fn else 0
    except Exception:
        return 0


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------


CONTENT_TYPES = {
    "Native": "application/octet-stream",
    "RowBinary": "application/octet-stream",
    "RowBinaryWithNamesAndTypes": "application/octet-stream",
    "Parquet": "application/octet-stream",
    "Arrow": "application/octet-stream",
    "ArrowStream": "application/octet-stream",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
}


def _decompressor(encoding: str):
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":  # ClickHouse's "deflate" is the zlib stream
        return zlib.decompressobj()
    if enc == "xz":
        return lzma.LZMADecompressor()
    if enc in ("bz2", "bzip2"):
        return bz2.BZ2Decompressor()
    raise ClickHouseError.own(
        NOT_IMPLEMENTED,
        f"Content-Encoding {encoding!r} is not supported by the chDB HTTP shim "
        "(supported: gzip, deflate, xz, bz2); run the client with that compression off")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-server"
    engine: Engine  # set on the class by main()
    credentials: tuple[str, str] | None = None  # (user, password) every query must log in with
    spool_dir: str  # private directory for request bodies, set by main()

    # Silence BaseHTTPRequestHandler's own access log: we write our own line.
    def log_message(self, format, *args):  # noqa: A002
        pass

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):  # --tls-cert: handshake here, not in accept()
            try:
                self.connection.settimeout(10)
                self.connection.do_handshake()
                self.connection.settimeout(None)
            except (ssl.SSLError, OSError) as exc:
                LOG.warning("TLS handshake with %s failed: %s", self.client_address[0], exc)
                self.close_connection = True
                return
        super().handle()

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_HEAD(self):
        self._handle(head=True)

    # --- plumbing ---------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _read_body(self):
        """The request body, de-chunked and decompressed, in a temporary file
        (the engine reads INSERT data from a file). The caller closes it, which deletes it."""
        spool = tempfile.NamedTemporaryFile(prefix="body-", suffix=".bin", dir=self.spool_dir)
        try:
            dec = _decompressor(self.headers.get("Content-Encoding", ""))
        except ClickHouseError:
            spool.close()
            self.close_connection = True  # the unread body makes the stream unusable
            raise

        def sink(chunk: bytes):
            spool.write(dec.decompress(chunk) if dec else chunk)

        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                while True:
                    line = self.rfile.readline(65537)
                    if not line:
                        raise ClickHouseError.own(BAD_ARGUMENTS, "truncated chunked request body")
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    remaining = size
                    while remaining:
                        chunk = self.rfile.read(min(remaining, 1 << 20))
                        if not chunk:
                            raise ClickHouseError.own(BAD_ARGUMENTS, "truncated chunked request body")
                        remaining -= len(chunk)
                        sink(chunk)
                    self.rfile.readline(65537)  # CRLF after the chunk
            else:
                remaining = int(self.headers.get("Content-Length") or 0)
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise ClickHouseError.own(BAD_ARGUMENTS, "truncated request body")
                    remaining -= len(chunk)
                    sink(chunk)
            if dec is not None and hasattr(dec, "flush"):
                spool.write(dec.flush())
        except ClickHouseError:
            spool.close()
            self.close_connection = True
            raise
        except (ValueError, zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
            spool.close()
            self.close_connection = True
            raise ClickHouseError.own(BAD_ARGUMENTS, f"cannot read request body: {exc}") from None
        spool.flush()
        spool.seek(0)
        return spool

    # --- one request ------------------------------------------------------------------

    def _handle(self, head: bool = False) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        self._log_query = params.get("query", "")
        status, error_name = 200, ""
        try:
            if url.path in ("/ping", "/replicas_status") or (
                    url.path == "/" and self.command in ("GET", "HEAD") and not self._log_query):
                self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"}, head)
                return
            self._authenticate(params)
            if url.path != "/":
                status = 404
                self.close_connection = True  # the body (if any) was not read
                self._send(404, f"There is no handle {url.path}\n".encode(),
                           {"Content-Type": "text/plain; charset=UTF-8"}, head)
                return
            status = self._execute(params, head)
        except ClickHouseError as err:
            status, error_name = err.http_status(), err.name or str(err.code)
            self._send(status, (err.text + "\n").encode("utf-8", "replace"), {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(err.code),
                "X-ClickHouse-Server-Display-Name": self.engine.display_name,
            }, head)
        except (BrokenPipeError, ConnectionResetError):
            status = 499
            self.close_connection = True
        except Exception as exc:  # a bug here must still answer, and say what happened
            LOG.exception("internal error")
            err = ClickHouseError.own(LOGICAL_ERROR, f"chdb-server internal error: {exc!r}")
            status, error_name = 500, err.name
            self.close_connection = True
            self._send(500, (err.text + "\n").encode(), {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(err.code)}, head)
        finally:
            LOG.info("%s %d %.1fms %s%s", self.command, status, (time.monotonic() - started) * 1000,
                     error_name + " " if error_name else "", short_query(self._log_query) or "-")

    def _authenticate(self, params: dict[str, str]) -> None:
        """With --user/--password: the request logs in as ClickHouse accepts it
        (basic auth, X-ClickHouse-User/-Key headers, user/password parameters)."""
        if self.credentials is None:
            return
        user = self.headers.get("X-ClickHouse-User") or params.get("user") or ""
        password = self.headers.get("X-ClickHouse-Key") or params.get("password") or ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
        want_user, want_password = self.credentials
        ok = hmac.compare_digest(user.encode(), want_user.encode()) and hmac.compare_digest(
            password.encode(), want_password.encode())
        if not ok:
            self.close_connection = True  # the body (if any) was not read
            raise ClickHouseError.own(AUTHENTICATION_FAILED, f"{user or 'default'}: Authentication failed: "
                                      "password is incorrect, or there is no user with such name")

    def _execute(self, params: dict[str, str], head: bool) -> int:
        if "multipart/form-data" in self.headers.get("Content-Type", ""):
            self.close_connection = True
            raise ClickHouseError.own(NOT_IMPLEMENTED,
                                      "external tables (multipart/form-data) are not supported by the chDB HTTP shim")
        if params.get("compress") == "1" or params.get("decompress") == "1":
            self.close_connection = True
            raise ClickHouseError.own(
                NOT_IMPLEMENTED,
                "ClickHouse native block compression (compress=1/decompress=1, clickhouse-go's LZ4/ZSTD "
                "over HTTP) is not supported by the chDB HTTP shim; run the client without compression or with gzip")

        has_body = (self.command == "POST" or int(self.headers.get("Content-Length") or 0) > 0
                    or "chunked" in self.headers.get("Transfer-Encoding", "").lower())
        body = self._read_body() if has_body else None
        engine = self.engine
        database = (params.get("database") or self.headers.get("X-ClickHouse-Database")
                    or engine.default_db)
        fmt = (params.get("default_format") or self.headers.get("X-ClickHouse-Format")
               or "TabSeparated")
        query_id = params.get("query_id") or str(uuid.uuid4())
        qparams = {k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items()
                    if k not in CLIENT_ONLY_PARAMS and not k.startswith("param_")}
        url_query = params.get("query", "")

        try:
            # 1. INSERT ... FORMAT X in the URL: the body is the data.
            split = split_insert_format(url_query) if url_query else None
            if split is not None and body is not None:
                stmt, in_fmt = split
                res = engine.insert(stmt, in_fmt, body.name, database, settings)
                return self._ok(res, fmt, query_id, head)

            head_bytes = b""
            if body is not None:
                head_bytes = body.read(1 << 16)
                body.seek(0)
            # 2. The whole INSERT ... FORMAT X <data> in the body.
            if not url_query and head_bytes:
                inline = split_inline_insert(head_bytes)
                if inline is not None:
                    stmt, in_fmt, offset = inline
                    self._log_query = f"{stmt} FORMAT {in_fmt}"
                    with tempfile.NamedTemporaryFile(prefix="body-", suffix=".bin", dir=self.spool_dir) as data:
                        body.seek(offset)
                        shutil.copyfileobj(body, data, 1 << 20)
                        data.flush()
                        res = engine.insert(stmt, in_fmt, data.name, database, settings)
                    return self._ok(res, fmt, query_id, head)

            # 3. Everything else is a query: URL query, then the body.
            text = url_query
            if body is not None:
                raw = body.read()
                if raw:
                    try:
                        body_text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ClickHouseError.own(
                            BAD_ARGUMENTS, "the query is not valid UTF-8 (binary data is accepted only "
                            "after INSERT ... FORMAT <fmt>)") from None
                    text = (text + "\n" + body_text) if text else body_text
                    self._log_query = text
        finally:
            if body is not None:
                body.close()

        if not text.strip():
            raise ClickHouseError.own((62, "SYNTAX_ERROR"), "Empty query")
        if fmt not in engine.output_formats:
            raise ClickHouseError.own(UNKNOWN_FORMAT, f"Unknown output format {fmt}")

        cpv = params.get("client_protocol_version", "")
        if cpv.isdigit() and int(cpv) > 0 and fmt == "Native" and \
                _WS_RE.sub(" ", text).strip().rstrip(";").strip() == HELLO_QUERY and not qparams:
            data = engine.hello(int(cpv))
            return self._ok(Result(data), fmt, query_id, head)

        res = engine.query(text, fmt, database, settings, qparams)
        return self._ok(res, fmt, query_id, head)

    def _ok(self, res: Result, fmt: str, query_id: str, head: bool) -> int:
        data = res.data
        headers = {
            "Content-Type": CONTENT_TYPES.get(fmt, "text/plain; charset=UTF-8"),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Server-Display-Name": self.engine.display_name,
            "X-ClickHouse-Summary": json.dumps({
                "read_rows": str(res.read_rows), "read_bytes": str(res.read_bytes),
                "written_rows": str(res.written_rows), "written_bytes": str(res.written_bytes),
                "result_bytes": str(len(data)),
            }, separators=(",", ":")),
        }
        accept = self.headers.get("Accept-Encoding", "").lower()
        params = dict(parse_qsl(urlsplit(self.path).query))
        if data and params.get("enable_http_compression") in ("1", "true"):
            if "gzip" in accept:
                data = _gzip(data)
                headers["Content-Encoding"] = "gzip"
            elif "deflate" in accept:
                data = zlib.compress(data, 3)
                headers["Content-Encoding"] = "deflate"
        self._send(200, data, headers, head)
        return 200


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(3, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=18123, help="port to listen on (default 18123)")
    ap.add_argument("--data-dir", required=True, help="directory holding the engine's databases")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    ap.add_argument("--user", help="user every request but /ping must log in as (with --password)")
    ap.add_argument("--password", default="", help="password of --user")
    ap.add_argument("--tls-cert", help="PEM server certificate: serve https (with --tls-key)")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    ap.add_argument("--tls-ca", help="PEM CA bundle: require client certificates it signed")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s",
                        level=logging.WARNING if args.quiet else logging.INFO)
    t0 = time.monotonic()
    engine = Engine(args.data_dir)  # creates the data directory
    Handler.engine = engine
    # Request bodies wait here for the engine; left-overs of a killed server go at start.
    Handler.spool_dir = os.path.join(os.path.abspath(args.data_dir), "http-spool")
    shutil.rmtree(Handler.spool_dir, ignore_errors=True)
    os.makedirs(Handler.spool_dir, mode=0o700)
    if args.user:
        Handler.credentials = (args.user, args.password)
    server = Server((args.host, args.port), Handler)
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_ca:
            ctx.load_verify_locations(args.tls_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        # the handshake runs in the request's thread (Handler.setup), so a slow
        # or failing client does not hold up accept()
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    LOG.info("chdb %s (ClickHouse engine %s) serving %s on %s://%s:%d (started in %.2fs)",
             engine.chdb_version, engine.engine_version, os.path.abspath(args.data_dir),
             scheme, args.host, args.port, time.monotonic() - t0)

    def stop(signum, _frame):
        LOG.info("signal %d: shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
        shutil.rmtree(Handler.spool_dir, ignore_errors=True)
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
