#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stores clarpublish results from an MQTT broker in SQLite.

    python3 examples/clar-store.py --host 127.0.0.1 --topic 'clar/#' --db results.sqlite

Subscribes with Debian's mosquitto_sub (package mosquitto-clients; Python's
standard library has no MQTT client) at QoS 1, parses each message (one
JSON object, see `gst-inspect-1.0 clarpublish`) and inserts it into table
`results`, one row per (stream_id, seq): a message delivered twice (MQTT
QoS 1 is at-least-once, e.g. after a broker restart) is stored once.
With --client-id the session is persistent (clean session off): the broker
keeps what arrives while this program is away. At exit it prints, per
stream, how many results it holds and which sequence numbers are missing.

Query it, e.g. the loudest labels of the last hour:

    sqlite3 results.sqlite "SELECT stream_id, label, COUNT(*) FROM results
        WHERE time > datetime('now','-1 hour') GROUP BY 1, 2 ORDER BY 3 DESC"
"""
import argparse
import json
import sqlite3
import subprocess
import sys

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
  stream_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,          -- window or event
  time TEXT,                   -- UTC, ISO 8601
  timestamp_ns INTEGER,        -- PTS of the window's first sample
  running_time_ns INTEGER,
  duration_ns INTEGER,
  window_index INTEGER,
  label TEXT,                  -- best label (windows)
  score REAL,
  json TEXT NOT NULL,          -- the whole message
  PRIMARY KEY (stream_id, seq)
);
"""


def store(db, payload):
    """Inserts one message; returns its (stream id, seq) or None if invalid."""
    try:
        m = json.loads(payload)
        sid, seq = m["stream-id"], int(m["seq"])
    except (ValueError, KeyError, TypeError):
        print("clar-store: skipping a message that is not clarpublish JSON", file=sys.stderr)
        return None
    labels = m.get("labels") or [{}]
    db.execute(
        "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (sid, seq, m.get("type"), m.get("time"), m.get("timestamp"), m.get("running-time"),
         m.get("duration"), m.get("window-index"), labels[0].get("name"), labels[0].get("score"),
         payload))
    return sid, seq


def report(db):
    for sid, n, lo, hi in db.execute(
            "SELECT stream_id, COUNT(*), MIN(seq), MAX(seq) FROM results GROUP BY 1 ORDER BY 1"):
        have = {s for (s,) in db.execute("SELECT seq FROM results WHERE stream_id=?", (sid,))}
        missing = [s for s in range(lo, hi + 1) if s not in have]
        print(f"{sid}: {n} results, seq {lo}..{hi}, missing {len(missing)}"
              + (f" (first {missing[:10]})" if missing else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--topic", default="clar/#")
    ap.add_argument("--db", default="clar-results.sqlite")
    ap.add_argument("--username")
    ap.add_argument("--password", help="visible to other local users in ps; prefer a "
                    "mosquitto_sub config file (man mosquitto_sub)")
    ap.add_argument("--cafile")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-id", help="persistent session under this id")
    ap.add_argument("--count", type=int, help="exit after this many messages")
    a = ap.parse_args()

    cmd = ["mosquitto_sub", "-h", a.host, "-p", str(a.port), "-t", a.topic, "-q", "1"]
    for flag, val in (("-u", a.username), ("-P", a.password), ("--cafile", a.cafile),
                      ("--cert", a.cert), ("--key", a.key), ("-C", a.count)):
        if val is not None:
            cmd += [flag, str(val)]
    if a.client_id:
        cmd += ["-i", a.client_id, "-c"]

    db = sqlite3.connect(a.db)
    # A commit per message, without an fsync per commit (WAL): a crash loses
    # at most the last few results, never the database.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    stored = 0
    try:
        sub = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    except FileNotFoundError:
        sys.exit("clar-store: mosquitto_sub not found (apt-get install mosquitto-clients)")
    try:
        # clarpublish's JSON has no line breaks: one message per line.
        for line in sub.stdout:
            if store(db, line.decode("utf-8", "replace").rstrip("\n")):
                stored += 1
                db.commit()
    except KeyboardInterrupt:
        sub.terminate()
    rc = sub.wait()
    db.commit()
    print(f"stored {stored} messages in {a.db}")
    report(db)
    db.close()
    sys.exit(0 if rc in (0, -15) else rc)


if __name__ == "__main__":
    main()
