"""Finished jobs are purged after --retention-days, with their logs; dependencies on them still resolve."""

from __future__ import annotations

import time
from pathlib import Path

from batchd.domain.jobs import REASON_DEPENDENCY_FAILED
from tests.support import Server, make_environment, output, register, wait_for, wait_status

# About a second and a half: the jobs below are past it by the time the server restarts.
RETENTION_DAYS = 1.5 / 86_400


def _log_files(server: Server) -> list[Path]:
    return sorted(p for p in (server.data_dir / "logs").rglob("*.log"))


def test_finished_jobs_and_their_logs_go_after_retention(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", ["--executor", "local", "--retention-days", str(RETENTION_DAYS)])
    with server:
        client = server.client()
        queue = make_environment(client)
        register(client, "hello", ["echo", "hello"])
        register(client, "flaky", ["sh", "-c", 'echo "try $AWS_BATCH_JOB_ATTEMPT"; exit 1'], attempts=2)
        done = client.submit_job(jobName="done", jobQueue=queue, jobDefinition="hello")["jobId"]
        failed = client.submit_job(jobName="failed", jobQueue=queue, jobDefinition="flaky")["jobId"]
        assert wait_status(client, done)["status"] == "SUCCEEDED"
        assert wait_status(client, failed)["status"] == "FAILED"
        assert output(server, done) == ["hello"]
        assert output(server, failed, "--attempt", "2") == ["try 2"]
        assert len(_log_files(server)) == 3  # one attempt of `done`, two of `failed`
        finished_at = time.time()

    # Purges run on the scheduler's first pass after a start, then every few minutes.
    wait_for(lambda: time.time() > finished_at + RETENTION_DAYS * 86_400, what="retention to pass")
    with server:
        client = server.client()
        wait_for(lambda: not client.describe_jobs(jobs=[done, failed])["jobs"], what="the purge")
        wait_for(lambda: not _log_files(server), what="the log files to go")
        # Only the emptied directories went: the account's log directory stays for new jobs.
        assert [p.name for p in (server.data_dir / "logs").iterdir()] == ["123456789012"]
        assert not any((server.data_dir / "logs" / "123456789012").iterdir())

        # A job may still depend on purged jobs: the one that succeeded lets it run ...
        after_done = client.submit_job(
            jobName="after-done", jobQueue=queue, jobDefinition="hello", dependsOn=[{"jobId": done}]
        )["jobId"]
        assert wait_status(client, after_done)["status"] == "SUCCEEDED"
        assert output(server, after_done) == ["hello"]
        # ... and the one that failed fails it, as it would have before the purge.
        after_failed = client.submit_job(
            jobName="after-failed", jobQueue=queue, jobDefinition="hello", dependsOn=[{"jobId": failed}]
        )["jobId"]
        job = wait_status(client, after_failed)
        assert (job["status"], job["statusReason"]) == ("FAILED", REASON_DEPENDENCY_FAILED)
