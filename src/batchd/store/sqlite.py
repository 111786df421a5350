"""The embedded store: one SQLite database in WAL mode, used from the server's event-loop thread.

One connection serves every request, so writes never contend and "database is locked" cannot happen
inside the server; other processes (`batchd logs`) read concurrently thanks to WAL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchd.domain.jobs import JobStatus
from batchd.store.checkpoints import Checkpointer
from batchd.store.errors import Conflict, StoreError
from batchd.store.integrity import check_database
from batchd.store.records import JobRecord
from batchd.store.schema import MIGRATIONS

_JOB_COLUMNS = (
    "seq, job_id, account, queue_arn, name, jd_arn, status, created_at, ce_arn, doc, run, array_parent, "
    "array_index, share_identifier, scheduling_priority"
)
_INSERT_JOB = (
    "INSERT INTO jobs(job_id, account, queue_arn, name, jd_arn, status, created_at, ce_arn, doc, run, "
    "array_parent, array_index, share_identifier, scheduling_priority) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Unfinished array parents: the statuses a parent waits in before its children have all ended.
_OPEN_PARENT = ("SUBMITTED", "PENDING")


@dataclass(frozen=True)
class ArraySummary:
    """An array parent's size and its children's count per status (the wire's statusSummary)."""

    size: int
    spawned: int  # children created so far: indexes 0 to spawned - 1
    updated_at: int
    counts: dict[str, int]

    @property
    def ended(self) -> int:
        return self.counts["SUCCEEDED"] + self.counts["FAILED"]


@dataclass(frozen=True)
class JobEvent:
    """One row of the job event history: the job as it was right after one status change."""

    seq: int
    account: str
    job_id: str
    at: int
    doc: dict[str, Any]


_STATUSES = tuple(s.value for s in JobStatus)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SqliteStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL", owner: bool = True) -> None:
        """`owner` is the server: it checks the file before opening it and runs its checkpoints. Another
        process that only reads beside a running server (`batchd logs`) must do neither: a checkpoint in
        progress looks like a damaged file from outside, and two checkpointers would compete."""
        self._depth = 0
        # Called after a commit that appended job events (e.g. to wake event streams); never inside one.
        self._event_listeners: list[Callable[[], None]] = []
        self._events_appended = False
        path.parent.mkdir(parents=True, exist_ok=True)
        if owner:
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
                self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database at {path}: {exc}") from exc
        self._checkpointer = Checkpointer(path) if owner else None
        if self._checkpointer is not None:
            self._checkpointer.start()

    def _migrate(self) -> None:
        """Applies the migrations this database has not had yet, in the transaction that opens it."""
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        version = int(self.get_meta("schema_version") or 0) if has_meta else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the database has schema version {version}, newer than this batchd ({len(MIGRATIONS)}): "
                "run the batchd that wrote it"
            )
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                self._db.execute(statement)
            self.set_meta("schema_version", str(number))

    def close(self) -> None:
        if self._checkpointer is not None:
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
            appended, self._events_appended = self._events_appended, False
        if appended:
            for listener in self._event_listeners:
                listener()

    def add_event_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after each commit that appended to the job event history."""
        self._event_listeners.append(listener)

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

    def count_resources(self, kind: str, account: str) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM resources WHERE kind = ? AND account = ?", (kind, account)
        ).fetchone()
        return int(row[0])

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
        """A submitted job (no event: AWS sends none for a submission); an array parent gets its summary."""
        self.insert_jobs([job])
        size = job.array_size
        if size is not None:
            self._db.execute(
                "INSERT INTO array_jobs(parent_id, size, updated_at) VALUES (?, ?, ?)",
                (job.job_id, size, job.created_at),
            )

    def insert_jobs(self, jobs: Sequence[JobRecord]) -> list[str]:
        """Jobs as they are created, in order: their `seq` is their submission order. Returns each one's
        document as written, for a caller that writes it again (an event) without serialising it twice."""
        rows = [self._row(job) for job in jobs]
        if len(rows) == 1:  # SubmitJob's case: the cheapest way to learn the one seq
            jobs[0].seq = int(self._db.execute(_INSERT_JOB, rows[0]).lastrowid or 0)
        else:
            self._db.executemany(_INSERT_JOB, rows)
            # One writer, one transaction: the rows just inserted hold the last len(jobs) sequence numbers.
            last = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
            for offset, job in enumerate(jobs, start=last - len(jobs) + 1):
                job.seq = offset
        docs = [row[8] for row in rows]
        dependencies = [(job.job_id, dep) for job in jobs for dep in job.depends_on]
        if dependencies:
            self._db.executemany(
                "INSERT OR IGNORE INTO job_dependencies(job_id, depends_on) VALUES (?, ?)", dependencies
            )
        return docs

    def spawn_children(self, parent: JobRecord, children: Sequence[JobRecord], at: int) -> None:
        """The next of an array's children, in index order, each in the status it starts in (PENDING when
        it waits for a dependency of its own, else RUNNABLE, or FAILED when the array was cancelled
        first). The event of each child that did not start PENDING is written with it."""
        docs = self.insert_jobs(children)
        self._db.executemany(
            "INSERT INTO job_events(account, job_id, at, doc) VALUES (?, ?, ?, ?)",
            [
                (c.account, c.job_id, at, doc)
                for c, doc in zip(children, docs, strict=True)
                if c.status != JobStatus.PENDING
            ],
        )
        self._events_appended = True
        counts = Counter(c.status.value for c in children)
        assignments = ", ".join(f"{status} = {status} + ?" for status in counts)
        self._db.execute(
            f"UPDATE array_jobs SET spawned = spawned + ?, {assignments}, updated_at = ? WHERE parent_id = ?",
            (len(children), *counts.values(), at, parent.job_id),
        )

    def update_job(self, job: JobRecord, expected: JobStatus) -> None:
        """Compare-and-set: writes the job only if it is still in `expected` status.

        When the status changes (`JobRecord.move_to`), the same transaction appends the change to the
        job event history and, for an array child, moves it between its parent's status counts."""
        doc = _dumps(job.doc)
        with self.transaction():
            # The stored tags are kept: TagResource changes them while the scheduler holds the job's
            # document, and only TagResource/UntagResource write them after the job is submitted.
            cursor = self._db.execute(
                "UPDATE jobs SET status = ?, ce_arn = ?, "
                "doc = CASE WHEN json_type(doc, '$.tags') = 'object' "
                "THEN json_set(?, '$.tags', json(json_extract(doc, '$.tags'))) ELSE ? END, "
                "run = ?, queue_arn = ? WHERE job_id = ? AND status = ?",
                (
                    job.status.value,
                    job.ce_arn,
                    doc,
                    doc,
                    None if job.run is None else _dumps(job.run),
                    job.queue_arn,
                    job.job_id,
                    expected.value,
                ),
            )
            if cursor.rowcount != 1:
                raise Conflict(f"job {job.job_id} is no longer {expected.value}")
            if job.status == expected:
                return
            at = _now_ms()
            if job.array_parent is not None:
                # Column names come from the JobStatus enum, never from a request.
                old, new = expected.value, job.status.value
                self._db.execute(
                    f"UPDATE array_jobs SET {old} = {old} - 1, {new} = {new} + 1, updated_at = ? "
                    "WHERE parent_id = ?",
                    (at, job.array_parent),
                )
            elif job.array_size is not None:
                doc = _dumps(self.with_array_properties(job.doc, self.array_summary(job.job_id)))
            self._db.execute(
                "INSERT INTO job_events(account, job_id, at, doc) VALUES (?, ?, ?, ?)",
                (job.account, job.job_id, at, doc),
            )
            self._events_appended = True

    def set_job_tags(self, job_id: str, tags: dict[str, str]) -> None:
        """A job's tags (TagResource, UntagResource): the one write of a job's document besides
        `update_job`, which keeps what this writes."""
        self._db.execute(
            "UPDATE jobs SET doc = json_set(doc, '$.tags', json(?)) WHERE job_id = ?", (_dumps(tags), job_id)
        )

    # --- arrays -------------------------------------------------------------------------------------------

    def array_summary(self, parent_id: str) -> ArraySummary | None:
        return self.array_summaries([parent_id]).get(parent_id)

    def array_summaries(self, parent_ids: Sequence[str]) -> dict[str, ArraySummary]:
        if not parent_ids:
            return {}
        marks = ",".join("?" * len(parent_ids))
        rows = self._db.execute(
            f"SELECT parent_id, size, spawned, updated_at, {', '.join(_STATUSES)} FROM array_jobs "
            f"WHERE parent_id IN ({marks})",
            list(parent_ids),
        )
        return {
            r[0]: ArraySummary(
                int(r[1]), int(r[2]), int(r[3]), dict(zip(_STATUSES, map(int, r[4:]), strict=True))
            )
            for r in rows
        }

    @staticmethod
    def with_array_properties(doc: dict[str, Any], summary: ArraySummary | None) -> dict[str, Any]:
        """A parent's document as DescribeJobs shows it: its children's counts as they are now."""
        if summary is None:
            return doc
        properties = {
            **doc.get("arrayProperties", {}),
            "size": summary.size,
            "statusSummary": summary.counts,
            "statusSummaryLastUpdatedAt": summary.updated_at,
        }
        return {**doc, "arrayProperties": properties}

    def children(self, parent_id: str, statuses: Iterable[JobStatus]) -> list[JobRecord]:
        """An array's children in the given statuses, in index order."""
        values = [s.value for s in statuses]
        marks = ",".join("?" * len(values))
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE array_parent = ? AND status IN ({marks}) "
            "ORDER BY array_index",
            [parent_id, *values],
        )
        return [self._job(r) for r in rows]

    # --- the job event history ------------------------------------------------------------------------------

    def events_after(
        self, after: int, *, account: str | None = None, job_id: str | None = None, limit: int = 500
    ) -> list[JobEvent]:
        """Events past `after` in history order; narrowed to one account and/or one job."""
        # Read in seq order from `after` (the primary key). With `job_id`, a stream's first read may pass
        # over much of the history; an index would cost every transition a page instead.
        sql = "SELECT seq, account, job_id, at, doc FROM job_events WHERE seq > ?"
        args: list[Any] = [after]
        if job_id is not None:
            sql += " AND job_id = ?"
            args.append(job_id)
        if account is not None:
            sql += " AND account = ?"
            args.append(account)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        return [JobEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in self._db.execute(sql, args)]

    def last_event_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM job_events").fetchone()
        return int(row[0] or 0)

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
        """The account's jobs not yet placed (SUBMITTED, PENDING, RUNNABLE), an array's children included
        (those not created yet too), counted up to about `up_to`: enough to enforce a quota without
        reading a backlog larger than it. Children are counted from their parents' summaries."""
        listed = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE account = ? AND array_parent IS NULL "
            "AND status IN ('SUBMITTED', 'PENDING', 'RUNNABLE') LIMIT ?)",
            (account, up_to),
        ).fetchone()
        children = self._db.execute(
            "SELECT COALESCE(SUM(a.SUBMITTED + a.PENDING + a.RUNNABLE + a.size - a.spawned), 0) "
            "FROM jobs AS p JOIN array_jobs AS a ON a.parent_id = p.job_id "
            "WHERE p.account = ? AND p.array_parent IS NULL AND p.status IN ('SUBMITTED', 'PENDING')",
            (account,),
        ).fetchone()
        return int(listed[0]) + int(children[0])

    def jobs_in_queue(self, account: str, queue_arn: str, statuses: Iterable[JobStatus]) -> list[JobRecord]:
        """The queue's ordinary jobs and array parents (not their children) in the given statuses."""
        values = [s.value for s in statuses]
        marks = ",".join("?" * len(values))
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account = ? AND queue_arn = ? AND array_parent IS NULL "
            f"AND status IN ({marks}) ORDER BY seq",
            [account, queue_arn, *values],
        )
        return [self._job(r) for r in rows]

    def jobs_needing(
        self, account: str, resource_arn: str, statuses: Iterable[str] | None, after_seq: int | None
    ) -> list[JobRecord]:
        """The account's jobs whose consumableResourceProperties name the resource, in submission order
        (ListJobsByConsumableResource): the array parents and children alike."""
        sql = (
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account = ? AND EXISTS (SELECT 1 FROM json_each(doc, "
            "'$.consumableResourceProperties.consumableResourceList') AS entry "
            "WHERE json_extract(entry.value, '$.consumableResource') = ?)"
        )
        args: list[Any] = [account, resource_arn]
        if statuses is not None:
            values = list(statuses)
            sql += f" AND status IN ({','.join('?' * len(values))})"
            args.extend(values)
        if after_seq is not None:
            sql += " AND seq > ?"
            args.append(after_seq)
        return [self._job(r) for r in self._db.execute(sql + " ORDER BY seq", args)]

    def list_jobs(
        self,
        account: str,
        queue_arn: str | None,
        *,
        array_parent: str | None = None,
        status: JobStatus | None,
        name_prefix: str | None,
        name: str | None,
        jd_arn: str | None,
        jd_arn_prefix: str | None,
        created_before: int | None,
        created_after: int | None,
        after: tuple[int, str] | None,
        limit: int,
        share: str | None = None,
        share_prefix: str | None = None,
    ) -> list[JobRecord]:
        """A queue's jobs newest first, ties by job id (the ListJobs order), or with `array_parent` an
        array's children in index order; `after` is the last row's (created_at, job_id) or (index, id).
        Each is served from an index at any size."""
        if array_parent is not None:
            sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE array_parent = ? AND +account = ?"
            args: list[Any] = [array_parent, account]
        else:
            sql = (
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account = ? AND queue_arn = ? "
                "AND array_parent IS NULL"
            )
            args = [account, queue_arn]
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        # ListJobs' JOB_NAME is case-insensitive, its prefix too; job names are ASCII, NOCASE's range.
        if name is not None:
            sql += " AND name = ? COLLATE NOCASE"
            args.append(name)
        if name_prefix is not None:
            sql += " AND substr(name, 1, ?) = ? COLLATE NOCASE"
            args.extend([len(name_prefix), name_prefix])
        if jd_arn is not None:
            sql += " AND jd_arn = ?"
            args.append(jd_arn)
        if jd_arn_prefix is not None:
            sql += " AND substr(jd_arn, 1, ?) = ?"
            args.extend([len(jd_arn_prefix), jd_arn_prefix])
        # SHARE_IDENTIFIER: share identifiers are case-sensitive, as in a policy's shareDistribution.
        if share is not None:
            sql += " AND share_identifier = ?"
            args.append(share)
        if share_prefix is not None:
            sql += " AND substr(share_identifier, 1, ?) = ?"
            args.extend([len(share_prefix), share_prefix])
        if created_before is not None:
            sql += " AND created_at < ?"
            args.append(created_before)
        if created_after is not None:
            sql += " AND created_at > ?"
            args.append(created_after)
        if array_parent is not None:
            if after is not None:
                sql += " AND array_index > ?"
                args.append(after[0])
            sql += " ORDER BY array_index LIMIT ?"
        else:
            if after is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND job_id > ?))"
                args.extend([after[0], after[0], after[1]])
            sql += " ORDER BY created_at DESC, job_id LIMIT ?"
        args.append(limit)
        return [self._job(r) for r in self._db.execute(sql, args)]

    def purge_finished(self, created_before: int) -> list[tuple[str, str]]:
        """Drops finished jobs past retention, leaving tombstones so dependencies on them still resolve.

        An array's children go with their parent, never before it (a parent ends after all of them).
        Their events go with them. Returns (account, logStreamName) of every attempt of
        the dropped jobs: their log files go too."""
        finished = (
            "SELECT job_id FROM jobs WHERE status IN ('SUCCEEDED', 'FAILED') AND created_at < ? "
            "AND array_parent IS NULL"
        )
        chosen = f"{finished} UNION ALL SELECT job_id FROM jobs WHERE array_parent IN ({finished})"
        cutoff = (created_before, created_before)
        streams = self._db.execute(
            "SELECT jobs.account, json_extract(attempt.value, '$.container.logStreamName') "
            "FROM jobs, json_each(jobs.doc, '$.attempts') AS attempt "
            f"WHERE jobs.job_id IN ({chosen})",
            cutoff,
        ).fetchall()
        self._db.execute(
            "INSERT OR REPLACE INTO job_tombstones(job_id, account, status) "
            f"SELECT job_id, account, status FROM jobs WHERE job_id IN ({chosen})",
            cutoff,
        )
        self._db.execute(f"DELETE FROM job_dependencies WHERE job_id IN ({chosen})", cutoff)
        self._db.execute(f"DELETE FROM array_jobs WHERE parent_id IN ({chosen})", cutoff)
        # The newest event stays, whoever's it is: ids are rowids, and the next one must be higher still.
        self._db.execute(
            f"DELETE FROM job_events WHERE job_id IN ({chosen}) AND seq < (SELECT MAX(seq) FROM job_events)",
            cutoff,
        )
        self._db.execute(f"DELETE FROM jobs WHERE job_id IN ({chosen})", cutoff)
        purged = [(account, stream) for account, stream in streams if stream]
        self._db.executemany("DELETE FROM log_streams WHERE account = ? AND name = ?", purged)
        return purged

    # --- log streams (the Logs API's index of the attempt logs) -------------------------------------------

    def add_log_stream(self, account: str, log_group: str, name: str, created_at: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO log_streams(account, log_group, name, created_at) VALUES (?, ?, ?, ?)",
            (account, log_group, name, created_at),
        )

    def log_stream_created(self, account: str, log_group: str, name: str) -> int | None:
        """When the stream was made, or None if it does not exist."""
        row = self._db.execute(
            "SELECT created_at FROM log_streams WHERE account = ? AND log_group = ? AND name = ?",
            (account, log_group, name),
        ).fetchone()
        return None if row is None else int(row[0])

    def log_streams(
        self,
        account: str,
        log_group: str,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[tuple[str, int]]:
        """(name, created_at) of a group's streams in name order (reversed if `descending`), names
        starting with `prefix`, after `after` in that order."""
        sql = "SELECT name, created_at FROM log_streams WHERE account = ? AND log_group = ?"
        args: list[Any] = [account, log_group]
        if prefix:
            sql += _starts_with("name", prefix, args)
        if after is not None:
            sql += " AND name < ?" if descending else " AND name > ?"
            args.append(after)
        sql += " ORDER BY name DESC" if descending else " ORDER BY name"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [(str(r[0]), int(r[1])) for r in self._db.execute(sql, args)]

    def log_groups(
        self, account: str, prefix: str = "", after: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """(name, created_at of its first stream) of the account's log groups, in name order."""
        sql = "SELECT log_group, MIN(created_at) FROM log_streams WHERE account = ?"
        args: list[Any] = [account]
        if prefix:
            sql += _starts_with("log_group", prefix, args)
        if after is not None:
            sql += " AND log_group > ?"
            args.append(after)
        sql += " GROUP BY log_group ORDER BY log_group"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [(str(r[0]), int(r[1])) for r in self._db.execute(sql, args)]

    @staticmethod
    def _row(job: JobRecord) -> tuple[Any, ...]:
        return (
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
            job.array_parent,
            job.array_index,
            job.share_identifier,
            job.scheduling_priority,
        )

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
            array_parent=row[11],
            array_index=row[12],
            share_identifier=row[13],
            scheduling_priority=row[14],
        )


def _starts_with(column: str, prefix: str, args: list[Any]) -> str:
    """A condition that `column` starts with `prefix`, its values appended to `args`: a range, not LIKE,
    since names may hold % and _, and a range uses the primary key."""
    args.extend([prefix, prefix + "\U0010ffff"])
    return f" AND {column} >= ? AND {column} < ?"
