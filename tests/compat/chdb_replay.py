#!/usr/bin/env python3
"""Runs every statement pastmon sent to ClickHouse 18.16 (a PASTMON_SQL_LOG
file) against a modern ClickHouse (chdb-core, in-process), so no SQL works
only on the old server. Inserts replay their RowBinary bodies through
file(..., 'RowBinary', structure). A line with "expect" (the README's
queries) must also give 18.16's answer. Exit status 1 names each failure."""
import json
import sys
import tempfile

import chdb.session


def main(log_path):
    session = chdb.session.Session(tempfile.mkdtemp(prefix="pastmon-chdb-"))
    failures, count = [], 0
    for line in open(log_path):
        entry = json.loads(line)
        sql, data = entry["sql"], entry.get("data_file")
        count += 1
        try:
            if data:
                table = sql.split()[2]
                cols = session.query(f"DESCRIBE TABLE {table}", "TabSeparated").data().splitlines()
                structure = ", ".join(" ".join(c.split("\t")[:2]) for c in cols)
                session.query(f"INSERT INTO {table} SELECT * FROM file('{data}', 'RowBinary', '{structure}')")
            else:
                out = session.query(sql, "TabSeparated").data()
                if "expect" in entry and out != entry["expect"]:
                    failures.append(f"{sql[:120]}...: modern gives {out[:200]!r}, 18.16 {entry['expect'][:200]!r}")
        except Exception as e:  # chdb raises its own error types
            failures.append(f"{sql[:120]}...: {str(e).splitlines()[0]}")
    for f in failures:
        print("FAILED on modern ClickHouse:", f)
    print(f"{count} statements replayed on {session.query('SELECT version()', 'TabSeparated').data().strip()}, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
