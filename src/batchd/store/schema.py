"""The database schema: one statement list, applied idempotently at open."""

SCHEMA_VERSION = 1

STATEMENTS = (
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
