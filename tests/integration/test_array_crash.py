"""kill -9 of the server in the middle of a 1,000-child array, then a restart on the same data.

Nothing may be lost (every child ends SUCCEEDED, the parent too), stuck (nothing left queued or
running), or run twice (no attempt starts twice, no child succeeds twice).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.integration.jobtools import create_ce, create_queue, submit
from tests.support import Server, describe, register, wait_for, wait_status

SIZE = 1000


def test_kill_in_the_middle_of_a_large_array(server: Server, tmp_path: Path) -> None:
    client = server.client()
    create_ce(client, "ce", max_vcpus=4)
    create_queue(client, "q", ["ce"])
    runs = tmp_path / "runs"
    # One line when an attempt starts and one when it is done: O_APPEND writes of a line are atomic.
    script = (
        f'echo "start $AWS_BATCH_JOB_ARRAY_INDEX $AWS_BATCH_JOB_ATTEMPT" >> {runs}; '
        f'echo "done $AWS_BATCH_JOB_ARRAY_INDEX" >> {runs}'
    )
    # Attempts running at the crash fail with the executor's restart; a retry finishes them.
    register(client, "child", ["sh", "-c", script], attempts=3)
    parent = submit(client, "q", "child", arrayProperties={"size": SIZE})

    def succeeded() -> int:
        return int(describe(client, parent)["arrayProperties"]["statusSummary"]["SUCCEEDED"])

    wait_for(lambda: succeeded() >= SIZE // 3, timeout=120, what="a third of the children to succeed")
    server.kill()
    server.start()
    client = server.client()

    done = wait_status(client, parent, timeout=300)
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    assert done["arrayProperties"]["statusSummary"]["SUCCEEDED"] == SIZE
    kids: list[dict[str, Any]] = []
    ids = [f"{parent}:{i}" for i in range(SIZE)]
    for start in range(0, SIZE, 100):
        kids += client.describe_jobs(jobs=ids[start : start + 100])["jobs"]
    assert len(kids) == SIZE
    assert {k["status"] for k in kids} == {"SUCCEEDED"}

    lines = runs.read_text().splitlines()
    starts = Counter(tuple(line.split()[1:]) for line in lines if line.startswith("start"))
    dones = Counter(line.split()[1] for line in lines if line.startswith("done"))
    assert max(starts.values()) == 1, "an attempt started twice"
    for kid in kids:
        index = str(kid["arrayProperties"]["index"])
        attempts = kid["attempts"]
        assert sum(1 for a in attempts if a["container"].get("exitCode") == 0) == 1
        # Every attempt that ran is one the server recorded; none ran that it does not know of.
        ran = [attempt for (i, attempt) in starts if i == index]
        assert len(ran) <= len(attempts)
        assert 1 <= dones[index] <= len(attempts)
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
        assert client.list_jobs(arrayJobId=parent, jobStatus=status)["jobSummaryList"] == []
