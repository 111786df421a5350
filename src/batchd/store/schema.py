"""The database schema: numbered migrations, each a statement list applied once, in order, at open.

A fresh database runs them all; an existing one runs those past the `schema_version` it records, so a
data directory made by an earlier batchd is upgraded in place.
"""

V1 = (
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    # Compute environments and job queues: keyed by kind, account and name; the document is the
    # Describe* detail exactly as returned on the wire.
    """CREATE TABLE IF NOT EXISTS resources (
        kind TEXT NOT NULL, account TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (kind, account, name)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS job_definitions (
        account TEXT NOT NULL, name TEXT NOT NULL, revision INTEGER NOT NULL, status TEXT NOT NULL,
        doc TEXT NOT NULL, PRIMARY KEY (account, name, revision)) WITHOUT ROWID""",
    # seq gives submission order, which placement follows within a queue.
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        queue_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        jd_arn TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        ce_arn TEXT,
        doc TEXT NOT NULL,
        run TEXT)""",
    """CREATE INDEX IF NOT EXISTS jobs_by_status_in_queue
        ON jobs (account, queue_arn, status, created_at DESC, job_id)""",
    """CREATE INDEX IF NOT EXISTS jobs_in_queue ON jobs (account, queue_arn, created_at DESC, job_id)""",
    """CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (status, seq)
        WHERE status NOT IN ('SUCCEEDED', 'FAILED')""",
    """CREATE INDEX IF NOT EXISTS jobs_finished_at ON jobs (created_at)
        WHERE status IN ('SUCCEEDED', 'FAILED')""",
    """CREATE TABLE IF NOT EXISTS job_dependencies (
        job_id TEXT NOT NULL, depends_on TEXT NOT NULL, PRIMARY KEY (job_id, depends_on)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS job_dependents ON job_dependencies (depends_on)""",
    # Final status of jobs purged after retention, so old dependencies still resolve.
    """CREATE TABLE IF NOT EXISTS job_tombstones (
        job_id TEXT PRIMARY KEY, account TEXT NOT NULL, status TEXT NOT NULL) WITHOUT ROWID""",
)

V2 = (
    # Array jobs: a child row names its parent and index; parents and ordinary jobs have neither.
    """ALTER TABLE jobs ADD COLUMN array_parent TEXT""",
    """ALTER TABLE jobs ADD COLUMN array_index INTEGER""",
    # ListJobs on a queue lists parents and ordinary jobs, never children: partial indexes leave them out,
    # so a queue's page costs the same however many children its arrays have.
    """DROP INDEX IF EXISTS jobs_by_status_in_queue""",
    """DROP INDEX IF EXISTS jobs_in_queue""",
    """CREATE INDEX jobs_listed_by_status ON jobs (account, queue_arn, status, created_at DESC, job_id)
        WHERE array_parent IS NULL""",
    """CREATE INDEX jobs_listed ON jobs (account, queue_arn, created_at DESC, job_id)
        WHERE array_parent IS NULL""",
    """CREATE INDEX jobs_children ON jobs (array_parent, array_index) WHERE array_parent IS NOT NULL""",
    # One row per array parent: its size and how many children are in each status, kept by the same
    # transaction that moves a child, so DescribeJobs of the parent never reads its children.
    """CREATE TABLE array_jobs (
        parent_id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        spawned INTEGER NOT NULL DEFAULT 0, -- children created so far: indexes 0 to spawned - 1
        updated_at INTEGER NOT NULL,
        SUBMITTED INTEGER NOT NULL DEFAULT 0,
        PENDING INTEGER NOT NULL DEFAULT 0,
        RUNNABLE INTEGER NOT NULL DEFAULT 0,
        STARTING INTEGER NOT NULL DEFAULT 0,
        RUNNING INTEGER NOT NULL DEFAULT 0,
        SUCCEEDED INTEGER NOT NULL DEFAULT 0,
        FAILED INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""",
    # The job event history: one row per status change after submission, in commit order. `doc` is the
    # job as DescribeJobs showed it right after the change. Every transition writes a row, so the table
    # has no index and no AUTOINCREMENT (each would be another page written by every commit): seq stays
    # increasing because the newest row is never purged (see SqliteStore.purge_finished).
    """CREATE TABLE job_events (
        seq INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        job_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        doc TEXT NOT NULL)""",
)

V3 = (
    # CloudWatch Logs' view of the attempt logs: one row per log stream, made when an attempt is placed,
    # so the Logs API lists a group's streams without walking the log directory. Events stay in the
    # files; nothing here is written per output line.
    """CREATE TABLE log_streams (
        account TEXT NOT NULL,
        log_group TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (account, log_group, name)) WITHOUT ROWID""",
    # The streams of attempts placed before this table existed, in the group their job's logConfiguration
    # names (the default group otherwise). Made "when the job was": no event of theirs is earlier, which
    # is what FilterLogEvents' merge relies on.
    """INSERT OR IGNORE INTO log_streams(account, log_group, name, created_at)
        SELECT jobs.account,
               COALESCE(CASE WHEN json_extract(jobs.doc, '$.container.logConfiguration.logDriver') = 'awslogs'
                    THEN json_extract(jobs.doc, '$.container.logConfiguration.options."awslogs-group"') END,
                   '/aws/batch/job'),
               json_extract(attempt.value, '$.container.logStreamName'),
               jobs.created_at
        FROM jobs, json_each(jobs.doc, '$.attempts') AS attempt
        WHERE json_extract(attempt.value, '$.container.logStreamName') IS NOT NULL""",
    """INSERT OR IGNORE INTO log_streams(account, log_group, name, created_at)
        SELECT account,
               COALESCE(CASE WHEN json_extract(doc, '$.container.logConfiguration.logDriver') = 'awslogs'
                    THEN json_extract(doc, '$.container.logConfiguration.options."awslogs-group"') END,
                   '/aws/batch/job'),
               json_extract(doc, '$.container.logStreamName'), created_at
        FROM jobs WHERE json_extract(doc, '$.container.logStreamName') IS NOT NULL""",
)

V4 = (
    # Fair-share scheduling: a job's share and its effective priority as columns, for the scheduler to
    # order a fair-share queue's jobs by. Jobs of FIFO queues have no share and priority 0.
    """ALTER TABLE jobs ADD COLUMN share_identifier TEXT""",
    """ALTER TABLE jobs ADD COLUMN scheduling_priority INTEGER NOT NULL DEFAULT 0""",
    """UPDATE jobs SET share_identifier = json_extract(doc, '$.shareIdentifier'),
        scheduling_priority = COALESCE(json_extract(doc, '$.schedulingPriority'), 0)
        WHERE json_extract(doc, '$.shareIdentifier') IS NOT NULL
           OR json_extract(doc, '$.schedulingPriority') IS NOT NULL""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (V1, V2, V3, V4)
SCHEMA_VERSION = len(MIGRATIONS)
