"""Acceptance: Apache Airflow's amazon provider, from PyPI and unmodified, runs jobs on batchd.

`BatchOperator(awslogs_enabled=True)` submits a job, waits for it through DescribeJobs and, while it waits,
streams the job's output into the task's log with the provider's CloudWatch log fetcher (GetLogEvents on the
same port). The operator runs in its own Airflow environment (tests/acceptance/airflow_venv.py, made once per
machine) by tests/acceptance/airflow_job.py, which calls `execute` directly: no scheduler, no metadata
database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance import airflow_venv
from tests.support import Server, describe, make_environment, module_server, register, uniq

# The first test may make the Airflow environment (pip install, a minute or more on a loaded machine).
pytestmark = pytest.mark.timeout(1800)

JOB_SCRIPT = Path(__file__).with_name("airflow_job.py")
# The operator polls with random delays of 1 to 10 seconds; generous, as the machine may be loaded.
RUN_TIMEOUT = 900
JOB_ID = re.compile(r"^batchd-job-id: (\S+)$", re.MULTILINE)

server = module_server("--stop-grace-seconds", "2")


def fetched(message: str) -> re.Pattern[str]:
    """A line of the task log that the provider's AwsTaskLogFetcher wrote for a log event with exactly this
    message: `[YYYY-MM-DD HH:MM:SS,mmm] message`, the event's timestamp and message (event_to_str)."""
    return re.compile(
        rf"\[\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}}\] {re.escape(message)}(?=\s|$)", re.MULTILINE
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> airflow_venv.AirflowVenv:
    log = tmp_path_factory.mktemp("airflow-venv") / "pip.log"
    try:
        made = airflow_venv.ensure(log)
    except airflow_venv.NoNetwork as error:
        pytest.skip(f"PyPI cannot be reached, so Airflow cannot be installed: {error}")
    if made.created_in:
        print(f"made {made.path} in {made.created_in:.0f}s")
    return made


@pytest.fixture(scope="module")
def setup(server: Server) -> tuple[Any, str, str]:
    """A boto3 client for the server, a queue on a local-executor compute environment and a job definition."""
    client = server.client()
    queue = make_environment(client, uniq("airflow-ce"), queue=uniq("airflow-q"))
    definition = uniq("airflow-def")
    register(client, definition, ["true"])
    return client, queue, definition


class Run:
    """One run of airflow_job.py: its exit status, its whole output and the id of the job it submitted."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.returncode = result.returncode
        self.output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        found = JOB_ID.search(result.stdout)
        assert found, f"the operator submitted no job:\n{self.output}"
        self.job_id = found.group(1)


def run_operator(
    venv: airflow_venv.AirflowVenv,
    server: Server,
    queue: str,
    definition: str,
    command: list[str],
    airflow_home: Path,
) -> Run:
    # Nothing of the caller's AWS or Airflow setup leaks in: the script sets the endpoint and dummy
    # credentials itself, and Airflow keeps its config and logs in a throwaway home.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW", "PYTHON"))}
    env.update(AIRFLOW_HOME=str(airflow_home), AIRFLOW__CORE__LOAD_EXAMPLES="False", HOME=str(airflow_home))
    result = subprocess.run(
        [str(venv.python), str(JOB_SCRIPT), server.endpoint, uniq("airflow-job"), queue, definition,
         json.dumps(command)],
        capture_output=True,
        text=True,
        env=env,
        cwd=airflow_home,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    return Run(result)


def test_batch_operator_streams_the_jobs_output_into_the_task_log(
    venv: airflow_venv.AirflowVenv, server: Server, setup: tuple[Any, str, str], tmp_path: Path
) -> None:
    client, queue, definition = setup
    # The lines are made by the shell, so they appear in the task log only if they were read back from the
    # job's log stream, never from the operator logging its own container overrides.
    command = ["sh", "-c", "for i in 1 2; do echo batchd-airflow-line-$i; done"]
    run = run_operator(venv, server, queue, definition, command, tmp_path)

    assert run.returncode == 0, run.output
    job = describe(client, run.job_id)
    assert job["status"] == "SUCCEEDED", job
    assert job["container"]["command"] == command
    assert f"AWS Batch job ({run.job_id}) succeeded" in run.output
    first = fetched("batchd-airflow-line-1").search(run.output)
    second = fetched("batchd-airflow-line-2").search(run.output)
    assert first and second, f"the job's output is not in the task log:\n{run.output}"
    assert first.start() < second.start()
    assert "Error on retrieving Cloudwatch log events" not in run.output, run.output


def test_a_failing_job_makes_the_operator_fail(
    venv: airflow_venv.AirflowVenv, server: Server, setup: tuple[Any, str, str], tmp_path: Path
) -> None:
    client, queue, definition = setup
    command = ["sh", "-c", "echo batchd-airflow-about-to-$0; exit 1", "fail"]
    run = run_operator(venv, server, queue, definition, command, tmp_path)

    assert run.returncode != 0, run.output
    job = describe(client, run.job_id)
    assert job["status"] == "FAILED", job
    assert job["container"]["exitCode"] == 1
    # The operator raised, naming the job and its failure; the output before it still reached the log.
    assert "AirflowException" in run.output, run.output
    assert f"AWS Batch job ({run.job_id}) failed" in run.output, run.output
    assert fetched("batchd-airflow-about-to-fail").search(run.output), run.output
