"""Unit tests for the parts of chdb_server that need no engine.

Run: python3 -m unittest discover -s tools/chdb-server   (any Python 3.9+, chdb not needed)
The HTTP behaviour against the real engine is covered by the Go integration
tests in platform/clickhouse, through clickhouse-go.
"""

import struct
import unittest

from chdb_server import (
    ClickHouseError,
    encode_native_block,
    short_query,
    split_insert_format,
    split_inline_insert,
    split_settings_clause,
)


class InsertSplitting(unittest.TestCase):
    def test_url_insert_with_format_is_data_insert(self):
        self.assertEqual(split_insert_format("INSERT INTO t (a, b) FORMAT Native"),
                         ("INSERT INTO t (a, b)", "Native"))
        self.assertEqual(split_insert_format("insert into db.t format CSV;\n"), ("insert into db.t", "CSV"))
        self.assertEqual(
            split_insert_format("INSERT INTO t (a, `format`) SETTINGS async_insert=1 FORMAT Native"),
            ("INSERT INTO t (a, `format`) SETTINGS async_insert=1", "Native"))

    def test_other_statements_are_queries(self):
        for q in ("SELECT 1 FORMAT Native",
                  "INSERT INTO t SELECT * FROM s FORMAT Native",
                  "INSERT INTO t VALUES (1)",
                  "INSERT INTO t FORMAT CSV 1,2",  # data inline: the engine parses it
                  "INSERT INTO t (x) FROM INFILE 'f' FORMAT CSV",
                  "INSERT INTO t (a) -- FORMAT Native"):
            self.assertIsNone(split_insert_format(q), q)

    def test_inline_insert_data_starts_after_the_first_newline(self):
        body = b"INSERT INTO t (a) FORMAT Native\n\x02\x0a\x00"
        stmt, fmt, off = split_inline_insert(body)
        self.assertEqual((stmt, fmt, body[off:]), ("INSERT INTO t (a)", "Native", b"\x02\x0a\x00"))
        body = b"INSERT INTO t /* FORMAT x */ FORMAT TSV  \r\n1\t2\n"
        stmt, fmt, off = split_inline_insert(body)
        self.assertEqual((stmt, fmt, body[off:]), ("INSERT INTO t /* FORMAT x */", "TSV", b"1\t2\n"))
        body = b"INSERT INTO t FORMAT CSV 1,2"
        self.assertEqual(body[split_inline_insert(body)[2]:], b"1,2")

    def test_inline_values_and_select_are_queries(self):
        self.assertIsNone(split_inline_insert(b"INSERT INTO t VALUES ('FORMAT x')"))
        self.assertIsNone(split_inline_insert(b"INSERT INTO t SELECT 1 FORMAT Native"))
        self.assertIsNone(split_inline_insert(b"SELECT 1 FORMAT Native\n"))

    def test_settings_clause_is_split_off_at_top_level_only(self):
        self.assertEqual(split_settings_clause("INSERT INTO t (settings) SETTINGS a=1, b='x'"),
                         ("INSERT INTO t (settings)", "SETTINGS a=1, b='x'"))
        self.assertEqual(split_settings_clause("INSERT INTO t (a)"), ("INSERT INTO t (a)", ""))


class Errors(unittest.TestCase):
    def test_engine_text_keeps_code_and_drops_python_prefix(self):
        err = ClickHouseError.from_engine(RuntimeError(
            "Streaming insert finish failed: Code: 60. DB::Exception: Unknown table expression "
            "identifier 'x'. (UNKNOWN_TABLE)"))
        self.assertEqual((err.code, err.name, err.http_status()), (60, "UNKNOWN_TABLE", 404))
        self.assertTrue(err.text.startswith("Code: 60. DB::Exception: Unknown table"))

    def test_status_codes_follow_clickhouse(self):
        cases = {"SYNTAX_ERROR": 400, "CANNOT_PARSE_TEXT": 400, "ILLEGAL_TYPE_OF_ARGUMENT": 400,
                 "UNKNOWN_DATABASE": 404, "UNKNOWN_QUERY_PARAMETER": 400, "NOT_IMPLEMENTED": 501,
                 "MEMORY_LIMIT_EXCEEDED": 500, "VIOLATED_CONSTRAINT": 500}
        for name, status in cases.items():
            self.assertEqual(ClickHouseError(1, name, "x").http_status(), status, name)

    def test_text_without_code_becomes_logical_error(self):
        err = ClickHouseError.from_engine(RuntimeError("boom"))
        self.assertEqual(err.code, 49)
        self.assertIn("boom", err.text)


class NativeHandshake(unittest.TestCase):
    def test_block_in_client_revision_has_block_info_and_serialization_flags(self):
        got = encode_native_block([("v", "String", ["26.9"]), ("r", "UInt32", [0])], 54460)
        want = (b"\x01\x00\x02" + struct.pack("<i", -1) + b"\x00"  # BlockInfo
                + b"\x02\x01"  # 2 columns, 1 row
                + b"\x01v\x06String\x00\x0426.9"
                + b"\x01r\x06UInt32\x00" + struct.pack("<I", 0))
        self.assertEqual(got, want)

    def test_revision_zero_is_plain_native(self):
        self.assertEqual(encode_native_block([("x", "UInt32", [7])], 0),
                         b"\x01\x01\x01x\x06UInt32" + struct.pack("<I", 7))


class Logging(unittest.TestCase):
    def test_log_line_never_carries_inline_data(self):
        self.assertEqual(short_query("INSERT INTO t VALUES ('secret')"), "INSERT INTO t VALUES")
        self.assertEqual(short_query("INSERT INTO t FORMAT CSV\n1,secret"), "INSERT INTO t FORMAT CSV")
        self.assertEqual(short_query("SELECT\n  1"), "SELECT 1")
        self.assertTrue(short_query("SELECT " + "x" * 500).endswith("..."))


if __name__ == "__main__":
    unittest.main()
