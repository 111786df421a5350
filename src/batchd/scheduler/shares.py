"""What each share of each fair-share queue has used (docs/jobs.md, Fair share), kept across restarts.

The arithmetic is `batchd.domain.fair_share.ShareUsage`; this is its bookkeeping around the scheduler:
shares are charged while their jobs run (each pass accrues the running vCPUs since the last one, and an
ending job's last stretch is charged when it ends), and the usage is written to the store every few
seconds and when the scheduler stops, so a restart, or a crash, costs at most those seconds of history
instead of every share starting afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from batchd.domain.arns import scope_of_arn
from batchd.domain.fair_share import SharePolicy, ShareUsage
from batchd.store.errors import StoreError
from batchd.store.sqlite import SqliteStore

log = logging.getLogger("batchd.scheduler")

# The store's resource kind for one queue's usage document, named by the queue's ARN.
SHARE_USAGE = "share-usage"
# How often the usage is written while jobs run: what a crash may forget of it.
SAVE_EVERY_SECONDS = 5.0

# A running job as the accounts see it: (share identifier, vCPUs, time.time() it was booked).
RunningJob = tuple[str, float, float]


class ShareAccounts:
    """The usage of every fair-share queue, by queue ARN."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.usage: dict[str, ShareUsage] = {}
        self._saved_at = 0.0

    def load(self) -> None:
        """The usage as last saved; a document that cannot be read is dropped (its shares start anew)."""
        self.usage = {}
        for document in self._store.list_resources(SHARE_USAGE, None):
            try:
                self.usage[document["queueArn"]] = ShareUsage.from_document(document)
            except (KeyError, TypeError, ValueError, IndexError):
                log.warning("ignoring unreadable fair-share usage of %s", document.get("queueArn"))

    def before_pass(
        self, queue_arn: str, policy: SharePolicy, running: Iterable[RunningJob], now: float
    ) -> tuple[ShareUsage, dict[str, float], dict[str, float]]:
        """The queue's usage charged up to `now`, its running vCPUs per share, and what the running jobs
        are expected to use yet (`ShareUsage.still_to_come`): the inputs of its fair-share order."""
        usage = self.usage.get(queue_arn)
        if usage is None:
            usage = self.usage[queue_arn] = ShareUsage.for_policy(policy)
        elif usage.window_seconds != policy.window_seconds:
            usage = self.usage[queue_arn] = usage.with_window(policy.window_seconds)
        jobs = list(running)
        vcpus: dict[str, float] = {}
        for share, job_vcpus, _ in jobs:
            vcpus[share] = vcpus.get(share, 0.0) + job_vcpus
        usage.accrue(vcpus, now)
        return usage, vcpus, usage.still_to_come(jobs, now)

    def ended(self, queue_arn: str, job: RunningJob, now: float) -> None:
        """A job of the queue has stopped running: its share is charged the stretch since the last pass
        accrued, and the share's expected run time learns how long it ran."""
        usage = self.usage.get(queue_arn)
        if usage is None:
            return
        share, vcpus, started = job
        usage.charge(share, vcpus * usage.unaccrued_seconds(started, now), now)
        usage.record_run(share, max(0.0, now - started))

    def save(self, queue_arns: Iterable[str], now: float, *, force: bool = False) -> None:
        """Writes every queue's usage (at most every SAVE_EVERY_SECONDS unless `force`); the usage of a
        queue not in `queue_arns` (deleted, or FIFO now) is dropped. A store that cannot take it now
        (disk full) is tried again at the next save: the usage stays in memory meanwhile."""
        if not force and now - self._saved_at < SAVE_EVERY_SECONDS:
            return
        self._saved_at = now
        live = set(queue_arns)
        try:
            with self._store.transaction():
                for queue_arn in [arn for arn in self.usage if arn not in live]:
                    del self.usage[queue_arn]
                    self._store.delete_resource(SHARE_USAGE, scope_of_arn(queue_arn).account_id, queue_arn)
                for queue_arn, usage in self.usage.items():
                    usage.prune(now)
                    self._store.put_resource(
                        SHARE_USAGE,
                        scope_of_arn(queue_arn).account_id,
                        queue_arn,
                        {"queueArn": queue_arn, **usage.to_document()},
                    )
        except StoreError as exc:
            log.warning("cannot save fair-share usage yet (%s)", exc)
