"""The chunk records of every collection, in one SQLite file beside the lexical index: what a hit says,
where it came from (file, page, section, offsets). Stdlib sqlite3, WAL, one connection per thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from nexus.rag.records import ChunkRecord

_COLUMNS = "id, file_id, seq, title, section, text, start, end_, page, page_end, filename"


class ChunkTable:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._registry = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self.conn().execute(
            "CREATE TABLE IF NOT EXISTS chunks (ns TEXT NOT NULL, id TEXT NOT NULL, file_id TEXT NOT NULL, "
            "seq INTEGER NOT NULL, title TEXT NOT NULL, section TEXT NOT NULL, text TEXT NOT NULL, "
            "start INTEGER NOT NULL, end_ INTEGER NOT NULL, page INTEGER, page_end INTEGER, "
            "filename TEXT NOT NULL, PRIMARY KEY (ns, id))"
        )
        self.conn().execute("CREATE INDEX IF NOT EXISTS chunks_file ON chunks (ns, file_id)")

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._registry:
                self._all.append(conn)
        return conn

    def replace_files(self, ns: str, records: Sequence[ChunkRecord]) -> None:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for file_id in sorted({r.file_id for r in records}):
                conn.execute("DELETE FROM chunks WHERE ns = ? AND file_id = ?", (ns, file_id))
            conn.executemany(
                f"INSERT INTO chunks (ns, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        ns,
                        r.id,
                        r.file_id,
                        r.seq,
                        r.title,
                        r.section,
                        r.text,
                        r.start,
                        r.end,
                        r.page,
                        r.page_end,
                        r.filename,
                    )
                    for r in records
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def delete_file(self, ns: str, file_id: str) -> int:
        return self.conn().execute("DELETE FROM chunks WHERE ns = ? AND file_id = ?", (ns, file_id)).rowcount

    def drop(self, ns: str) -> None:
        self.conn().execute("DELETE FROM chunks WHERE ns = ?", (ns,))

    def get(self, ns: str, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        out: dict[str, ChunkRecord] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            rows = self.conn().execute(
                f"SELECT {_COLUMNS} FROM chunks WHERE ns = ? AND id IN ({','.join('?' * len(part))})",
                [ns, *part],
            )
            for row in rows:
                out[row[0]] = ChunkRecord(
                    id=row[0],
                    file_id=row[1],
                    seq=int(row[2]),
                    title=row[3],
                    section=row[4],
                    text=row[5],
                    start=int(row[6]),
                    end=int(row[7]),
                    page=row[8],
                    page_end=row[9],
                    filename=row[10],
                )
        return out

    def count(self, ns: str, file_id: str | None = None) -> int:
        if file_id is None:
            row = self.conn().execute("SELECT count(*) FROM chunks WHERE ns = ?", (ns,)).fetchone()
        else:
            sql = "SELECT count(*) FROM chunks WHERE ns = ? AND file_id = ?"
            row = self.conn().execute(sql, (ns, file_id)).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._registry:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
