"""The embedded store: one SQLite database in WAL mode, used from the server's event-loop thread.

One connection serves every request, so writes never contend and "database is locked" cannot happen
inside the server; other processes (`batchd logs`) read concurrently thanks to WAL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batchd.domain.jobs import JobStatus
from batchd.store.checkpoints import Checkpointer
from batchd.store.errors import Conflict, StoreError
from batchd.store.integrity import check_database
from batchd.store.records import JobRecord
from batchd.store.schema import SCHEMA_VERSION, STATEMENTS

_JOB_COLUMNS = "seq, job_id, account, queue_arn, name, jd_arn, status, created_at, ce_arn, doc, run"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SqliteStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self._depth = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        check_database(path)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode loses nothing when the process is killed; FULL also survives power loss.
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA busy_timeout=10000")
            # Checkpoints run on the Checkpointer's thread, not inside a COMMIT on the event loop.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute("PRAGMA foreign_keys=OFF")
            with self.transaction():
                for statement in STATEMENTS:
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database at {path}: {exc}") from exc
        self._checkpointer = Checkpointer(path)
        self._checkpointer.start()

    def close(self) -> None:
        self._checkpointer.stop()
        # The last connection to close checkpoints what is left and removes the WAL file.
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc
        finally:
            self._depth = 0

    # --- meta -------------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- compute environments and job queues ---------------------------------------------------------------

    def get_resource(self, kind: str, account: str, name: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT doc FROM resources WHERE kind = ? AND account = ? AND name = ?", (kind, account, name)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put_resource(self, kind: str, account: str, name: str, doc: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO resources(kind, account, name, doc) VALUES (?, ?, ?, ?)",
            (kind, account, name, _dumps(doc)),
        )

    def delete_resource(self, kind: str, account: str, name: str) -> None:
        self._db.execute(
            "DELETE FROM resources WHERE kind = ? AND account = ? AND name = ?", (kind, account, name)
        )

    def list_resources(
        self, kind: str, account: str | None, after: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """In name order; `account=None` lists every account's (for the scheduler)."""
        sql = "SELECT doc FROM resources WHERE kind = ?"
        args: list[Any] = [kind]
        if account is not None:
            sql += " AND account = ?"
            args.append(account)
        if after is not None:
            sql += " AND name > ?"
            args.append(after)
        sql += " ORDER BY account, name"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [dict(json.loads(r[0])) for r in self._db.execute(sql, args)]

    # --- job definitions ------------------------------------------------------------------------------------

    def last_revision(self, account: str, name: str) -> int:
        row = self._db.execute(
            "SELECT MAX(revision) FROM job_definitions WHERE account = ? AND name = ?", (account, name)
        ).fetchone()
        return int(row[0] or 0)

    def put_job_definition(self, account: str, doc: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO job_definitions(account, name, revision, status, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            (account, doc["jobDefinitionName"], doc["revision"], doc["status"], _dumps(doc)),
        )

    def get_job_definition(self, account: str, name: str, revision: int | None) -> dict[str, Any] | None:
        """A given revision, or with `revision=None` the latest ACTIVE one."""
        if revision is None:
            row = self._db.execute(
                "SELECT doc FROM job_definitions WHERE account = ? AND name = ? AND status = 'ACTIVE' "
                "ORDER BY revision DESC LIMIT 1",
                (account, name),
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT doc FROM job_definitions WHERE account = ? AND name = ? AND revision = ?",
                (account, name, revision),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def list_job_definitions(
        self,
        account: str,
        *,
        name: str | None,
        status: str | None,
        after: tuple[str, int] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        sql = "SELECT doc FROM job_definitions WHERE account = ?"
        args: list[Any] = [account]
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if after is not None:
            sql += " AND (name > ? OR (name = ? AND revision > ?))"
            args.extend([after[0], after[0], after[1]])
        sql += " ORDER BY name, revision LIMIT ?"
        args.append(limit)
        return [dict(json.loads(r[0])) for r in self._db.execute(sql, args)]

    # --- jobs -----------------------------------------------------------------------------------------------

    def insert_job(self, job: JobRecord) -> None:
        cursor = self._db.execute(
            "INSERT INTO jobs(job_id, account, queue_arn, name, jd_arn, status, created_at, ce_arn, doc, run)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.job_id,
                job.account,
                job.queue_arn,
                job.name,
                job.jd_arn,
                job.status.value,
                job.created_at,
                job.ce_arn,
                _dumps(job.doc),
                None if job.run is None else _dumps(job.run),
            ),
        )
        job.seq = int(cursor.lastrowid or 0)
        if job.depends_on:
            self._db.executemany(
                "INSERT OR IGNORE INTO job_dependencies(job_id, depends_on) VALUES (?, ?)",
                [(job.job_id, dep) for dep in job.depends_on],
            )

    def update_job(self, job: JobRecord, expected: JobStatus) -> None:
        """Compare-and-set: writes the job only if it is still in `expected` status."""
        cursor = self._db.execute(
            "UPDATE jobs SET status = ?, ce_arn = ?, doc = ?, run = ?, queue_arn = ? "
            "WHERE job_id = ? AND status = ?",
            (
                job.status.value,
                job.ce_arn,
                _dumps(job.doc),
                None if job.run is None else _dumps(job.run),
                job.queue_arn,
                job.job_id,
                expected.value,
            ),
        )
        if cursor.rowcount != 1:
            raise Conflict(f"job {job.job_id} is no longer {expected.value}")

    def get_job(self, job_id: str, account: str | None = None) -> JobRecord | None:
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?"
        args: list[Any] = [job_id]
        if account is not None:
            sql += " AND +account = ?"
            args.append(account)
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else self._job(row)

    def get_jobs(self, account: str, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = self._db.execute(
            # `+account`: never through an index on account, which would read every job of the account.
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE +account = ? AND job_id IN ({marks})",
            [account, *job_ids],
        )
        return {r[1]: self._job(r) for r in rows}

    def job_statuses(self, job_ids: Iterable[str]) -> dict[str, JobStatus]:
        """Status of each job, falling back to tombstones of jobs purged after retention."""
        ids = list(job_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        found = {
            r[0]: JobStatus(r[1])
            for r in self._db.execute(f"SELECT job_id, status FROM jobs WHERE job_id IN ({marks})", ids)
        }
        missing = [i for i in ids if i not in found]
        if missing:
            marks = ",".join("?" * len(missing))
            for r in self._db.execute(
                f"SELECT job_id, status FROM job_tombstones WHERE job_id IN ({marks})", missing
            ):
                found[r[0]] = JobStatus(r[1])
        return found

    def existing_job_ids(self, account: str, job_ids: Sequence[str]) -> set[str]:
        if not job_ids:
            return set()
        marks = ",".join("?" * len(job_ids))
        live = self._db.execute(
            f"SELECT job_id FROM jobs WHERE +account = ? AND job_id IN ({marks})", [account, *job_ids]
        )
        gone = self._db.execute(
            f"SELECT job_id FROM job_tombstones WHERE account = ? AND job_id IN ({marks})",
            [account, *job_ids],
        )
        return {r[0] for r in live} | {r[0] for r in gone}

    def dependencies(self, job_id: str) -> list[str]:
        return [
            r[0]
            for r in self._db.execute("SELECT depends_on FROM job_dependencies WHERE job_id = ?", (job_id,))
        ]

    def dependents(self, job_id: str) -> list[str]:
        return [
            r[0]
            for r in self._db.execute("SELECT job_id FROM job_dependencies WHERE depends_on = ?", (job_id,))
        ]

    def jobs_in_status(self, statuses: Iterable[JobStatus], limit: int | None = None) -> list[JobRecord]:
        """Unfinished jobs of every account in submission order (the scheduler's view)."""
        values = [s.value for s in statuses]
        marks = ",".join("?" * len(values))
        # The first term repeats the partial index's own condition: SQLite uses a partial index only
        # when the query's WHERE visibly implies it, and `status IN (?)` alone does not.
        sql = (
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status NOT IN ('SUCCEEDED', 'FAILED') "
            f"AND status IN ({marks}) ORDER BY seq"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._job(r) for r in self._db.execute(sql, values)]

    def count_queued(self, account: str, up_to: int) -> int:
        """The account's jobs not yet placed (SUBMITTED, PENDING, RUNNABLE), counted up to `up_to`:
        enough to enforce a quota, without reading a backlog larger than it."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE account = ? "
            "AND status IN ('SUBMITTED', 'PENDING', 'RUNNABLE') LIMIT ?)",
            (account, up_to),
        ).fetchone()
        return int(row[0])

    def jobs_in_queue(self, account: str, queue_arn: str, statuses: Iterable[JobStatus]) -> list[JobRecord]:
        values = [s.value for s in statuses]
        marks = ",".join("?" * len(values))
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account = ? AND queue_arn = ? AND status IN ({marks}) "
            "ORDER BY seq",
            [account, queue_arn, *values],
        )
        return [self._job(r) for r in rows]

    def list_jobs(
        self,
        account: str,
        queue_arn: str,
        *,
        status: JobStatus | None,
        name_prefix: str | None,
        name: str | None,
        jd_arn: str | None,
        jd_arn_prefix: str | None,
        created_before: int | None,
        created_after: int | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[JobRecord]:
        """Newest first, ties by job id: the ListJobs order, served from an index at any size."""
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account = ? AND queue_arn = ?"
        args: list[Any] = [account, queue_arn]
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        if name_prefix is not None:
            sql += " AND substr(name, 1, ?) = ?"
            args.extend([len(name_prefix), name_prefix])
        if jd_arn is not None:
            sql += " AND jd_arn = ?"
            args.append(jd_arn)
        if jd_arn_prefix is not None:
            sql += " AND substr(jd_arn, 1, ?) = ?"
            args.extend([len(jd_arn_prefix), jd_arn_prefix])
        if created_before is not None:
            sql += " AND created_at < ?"
            args.append(created_before)
        if created_after is not None:
            sql += " AND created_at > ?"
            args.append(created_after)
        if after is not None:
            sql += " AND (created_at < ? OR (created_at = ? AND job_id > ?))"
            args.extend([after[0], after[0], after[1]])
        sql += " ORDER BY created_at DESC, job_id LIMIT ?"
        args.append(limit)
        return [self._job(r) for r in self._db.execute(sql, args)]

    def purge_finished(self, created_before: int) -> list[tuple[str, str]]:
        """Drops finished jobs past retention, leaving tombstones so dependencies on them still resolve.

        Returns (account, logStreamName) of every attempt of the dropped jobs: their log files go too."""
        streams = self._db.execute(
            "SELECT jobs.account, json_extract(attempt.value, '$.container.logStreamName') "
            "FROM jobs, json_each(jobs.doc, '$.attempts') AS attempt "
            "WHERE jobs.status IN ('SUCCEEDED', 'FAILED') AND jobs.created_at < ?",
            (created_before,),
        ).fetchall()
        self._db.execute(
            "INSERT OR REPLACE INTO job_tombstones(job_id, account, status) "
            "SELECT job_id, account, status FROM jobs "
            "WHERE status IN ('SUCCEEDED', 'FAILED') AND created_at < ?",
            (created_before,),
        )
        self._db.execute(
            "DELETE FROM job_dependencies WHERE job_id IN (SELECT job_id FROM jobs "
            "WHERE status IN ('SUCCEEDED', 'FAILED') AND created_at < ?)",
            (created_before,),
        )
        self._db.execute(
            "DELETE FROM jobs WHERE status IN ('SUCCEEDED', 'FAILED') AND created_at < ?", (created_before,)
        )
        return [(account, stream) for account, stream in streams if stream]

    @staticmethod
    def _job(row: Sequence[Any]) -> JobRecord:
        return JobRecord(
            seq=row[0],
            job_id=row[1],
            account=row[2],
            queue_arn=row[3],
            name=row[4],
            jd_arn=row[5],
            status=JobStatus(row[6]),
            created_at=row[7],
            ce_arn=row[8],
            doc=json.loads(row[9]),
            run=None if row[10] is None else json.loads(row[10]),
        )
