"""Runs one Airflow `BatchOperator` against batchd, outside any scheduler: run by test_airflow.py with the
Python of the Airflow environment (airflow_venv.py), never imported by the tests.

    python airflow_job.py ENDPOINT JOB_NAME JOB_QUEUE JOB_DEFINITION COMMAND_JSON

Both AWS Batch and CloudWatch Logs calls go to ENDPOINT. The operator's log, including the job's output that
its CloudWatch log fetcher reads, goes to stderr at INFO. The job's id is printed to stdout as
`batchd-job-id: ID` as soon as the operator knows it, whether or not the job then succeeds; the exit status is
0 only when the operator returned.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import timedelta


def main(argv: list[str]) -> int:
    endpoint, job_name, job_queue, job_definition, command = argv
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_BATCH",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
    ):
        os.environ.pop(name, None)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from airflow.providers.amazon.aws.operators.batch import BatchOperator  # type: ignore[import-not-found]

    operator = BatchOperator(
        task_id="batchd_job",
        job_name=job_name,
        job_queue=job_queue,
        job_definition=job_definition,
        container_overrides={"command": json.loads(command)},
        awslogs_enabled=True,
        awslogs_fetch_interval=timedelta(seconds=1),
        # No Airflow connection: the hook takes the credentials, region and endpoint above from the
        # environment, as boto3 does.
        aws_conn_id=None,
        region_name="us-east-1",
    )
    # `execute` itself, as a task runner would call it, with an empty context: Airflow warns that it runs
    # outside the Task Runner, and the operator then skips its UI links, which need a task instance.
    try:
        operator.execute(context={})
    finally:
        if operator.job_id:
            print(f"batchd-job-id: {operator.job_id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
