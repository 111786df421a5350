"""A server killed after an attempt started but before RUNNING was written: the restarted server finds
the attempt by its name and settles it as what it was, never as "never started"."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support import Server, describe, logs, make_environment, needs_docker, register, wait_status

pytestmark = needs_docker()


def _as_if_killed_before_running(database: Path, job_id: str) -> None:
    """Puts the job back as the store holds it between the container's start and the RUNNING write."""
    db = sqlite3.connect(str(database), isolation_level=None)
    try:
        doc_text, run_text = db.execute("SELECT doc, run FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        doc, run = json.loads(doc_text), json.loads(run_text)
        doc["status"] = "STARTING"
        doc.pop("startedAt", None)
        run.pop("handle")
        run.pop("startedAt")
        db.execute(
            "UPDATE jobs SET status = 'STARTING', doc = ?, run = ? WHERE job_id = ?",
            (json.dumps(doc), json.dumps(run), job_id),
        )
    finally:
        db.close()


def test_attempt_started_before_running_was_written_is_found_again(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    with Server(tmp_path / "data", ["--executor", "docker", "--stop-grace-seconds", "2"]) as server:
        client = server.client()
        queue = make_environment(client)
        register(
            client,
            "waiter",
            ["sh", "-c", "echo started; while [ ! -f /gate/go ]; do sleep 0.1; done; echo finished"],
            volumes=[{"name": "gate", "host": {"sourcePath": str(gate)}}],
            mountPoints=[{"sourceVolume": "gate", "containerPath": "/gate", "readOnly": True}],
        )
        job = client.submit_job(jobName="found", jobQueue=queue, jobDefinition="waiter")["jobId"]
        wait_status(client, job, ["RUNNING"], timeout=60)
        server.kill()
        _as_if_killed_before_running(server.data_dir / "batchd.sqlite3", job)

        server.start()
        client = server.client()
        assert wait_status(client, job, ["RUNNING"], timeout=60)["status"] == "RUNNING"
        (gate / "go").touch()
        ended = wait_status(client, job, timeout=60)
        assert ended["status"] == "SUCCEEDED", ended
        assert len(ended["attempts"]) == 1 and ended["attempts"][0]["container"]["exitCode"] == 0
        assert "startedAt" in describe(client, job)
        output = logs(server, job, "--no-timestamps").stdout
        assert output.count("started") == 1 and "finished" in output
