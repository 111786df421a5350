"""The front door: Batch (rest-json) and CloudWatch Logs (JSON 1.1) on one port, each modelled operation
either served or refused by name, signatures checked for each service's own signing name."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from batchd.awsmodel import service_model
from tests.support import REGION, Server, make_environment, module_server, register, uniq, wait_status

server = module_server()

# What batchd serves today; every other operation of botocore's Batch model is refused by name.
SERVED = {
    "CreateComputeEnvironment", "DescribeComputeEnvironments", "UpdateComputeEnvironment",
    "DeleteComputeEnvironment", "CreateJobQueue", "DescribeJobQueues", "UpdateJobQueue", "DeleteJobQueue",
    "RegisterJobDefinition", "DescribeJobDefinitions", "DeregisterJobDefinition", "SubmitJob",
    "DescribeJobs", "ListJobs", "CancelJob", "TerminateJob", "CancelJobs", "TerminateJobs", "TagResource",
    "UntagResource", "ListTagsForResource", "CreateSchedulingPolicy", "DescribeSchedulingPolicies",
    "ListSchedulingPolicies", "UpdateSchedulingPolicy", "DeleteSchedulingPolicy", "GetJobQueueSnapshot",
    "CreateConsumableResource", "DescribeConsumableResource", "ListConsumableResources",
    "UpdateConsumableResource", "DeleteConsumableResource", "ListJobsByConsumableResource",
}  # fmt: skip
UNSUPPORTED = sorted(set(service_model().operation_names) - SERVED)


def raw(
    server: Server, method: str, path: str, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        conn.close()


def uri_of(operation: str) -> tuple[str, str]:
    http_ = service_model().operation_model(operation).http
    return http_["method"], re.sub(
        r"\{[^}]+\}", "arn%3Aaws%3Abatch%3Aus-east-1%3A1%3Ax%2Fy", http_["requestUri"]
    )


def test_the_served_operations_are_found_from_the_model() -> None:
    from batchd.service.api import find_operations

    class Part:
        def submit_job(self) -> None: ...

    assert set(find_operations("batch", (Part(),))) == {"SubmitJob"}
    assert not set(SERVED) - set(service_model().operation_names)


@pytest.mark.parametrize("operation", UNSUPPORTED)
def test_every_other_batch_operation_is_refused_by_name(server: Server, operation: str) -> None:
    method, path = uri_of(operation)
    status, headers, body = raw(server, method, path, headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert headers["x-amzn-errortype"] == "ClientException" and body["__type"] == "ClientException"
    assert f"batchd does not support the Batch operation {operation}" in body["message"]


def test_unsupported_operations_through_boto3(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.describe_service_environments()
    assert caught.value.response["Error"]["Code"] == "ClientException"
    assert "DescribeServiceEnvironments" in caught.value.response["Error"]["Message"]


def logs_call(server: Server, target: str, body: bytes = b"{}") -> tuple[int, dict[str, str], Any]:
    return raw(
        server, "POST", "/", body, {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    )


def test_logs_calls_are_told_apart_by_target(server: Server) -> None:
    status, headers, body = logs_call(server, "Logs_20140328.PutLogEvents")
    assert status == 400 and body["__type"] == "InvalidOperationException"
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert "PutLogEvents" in body["message"]
    status, _, body = logs_call(server, "Logs_20140328.NoSuchOperation")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, _, body = logs_call(server, "AmazonSSM.GetParameter")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    assert "CloudWatch Logs" in body["message"]


def test_logs_input_is_checked_against_the_logs_model(server: Server) -> None:
    status, _, body = logs_call(server, "Logs_20140328.GetLogEvents", b'{"logStreamName": 5}')
    assert status == 400 and body["__type"] == "InvalidParameterException", body


@pytest.mark.parametrize(
    "variables", [("AWS_ENDPOINT_URL",), ("AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")]
)
def test_endpoint_variables_alone_serve_both_services(
    server: Server, tmp_path: Path, variables: tuple[str, ...]
) -> None:
    script = textwrap.dedent(
        """
        import boto3
        batch, logs = boto3.client("batch"), boto3.client("logs")
        assert batch.meta.endpoint_url == logs.meta.endpoint_url
        batch.describe_job_queues()
        print("groups", [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]])
        try:
            logs.put_log_events(
                logGroupName="g", logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}])
        except logs.exceptions.InvalidOperationException as exc:
            print("refused", exc.response["Error"]["Message"])
        """
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **dict.fromkeys(variables, server.endpoint),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "groups [" in result.stdout  # a Logs read answered, from the same server
    assert "refused" in result.stdout and "PutLogEvents" in result.stdout


def test_cancel_jobs_and_terminate_jobs_report_each_job(client: Any, tmp_path: Path) -> None:
    queue = make_environment(client, uniq("bulk"), max_vcpus=1, queue=uniq("bulk-q"))
    release = tmp_path / "release"
    definition = register(
        client, uniq("bulk"), ["sh", "-c", f"while [ ! -e {release} ]; do sleep 0.05; done"]
    )
    running = client.submit_job(jobName="running", jobQueue=queue, jobDefinition=definition)["jobId"]
    wait_status(client, running, ["RUNNING"], timeout=60)
    waiting = [
        client.submit_job(jobName=f"waiting{i}", jobQueue=queue, jobDefinition=definition)["jobId"]
        for i in range(3)
    ]
    unknown = "00000000-0000-0000-0000-000000000000"
    answer = client.cancel_jobs(jobs=[*waiting[:2], unknown, "bad id!"], reason="bulk cancel")
    # AWS: jobs that cannot be found are treated as successfully processed.
    assert answer["successful"] == [*waiting[:2], unknown]
    assert [(e["job"], e["code"]) for e in answer["errors"]] == [("bad id!", "ClientException")]
    for job_id in waiting[:2]:
        job = wait_status(client, job_id, timeout=60)
        assert job["status"] == "FAILED" and job["statusReason"] == "bulk cancel"
    answer = client.terminate_jobs(jobs=[running, waiting[2]], reason="bulk stop")
    assert answer["successful"] == [running, waiting[2]] and answer["errors"] == []
    for job_id in (running, waiting[2]):
        job = wait_status(client, job_id, timeout=60)
        assert job["status"] == "FAILED" and job["statusReason"] == "bulk stop"


def test_bulk_limits(loose: Any) -> None:
    with pytest.raises(ClientError) as caught:
        loose.cancel_jobs(jobs=[f"job-{i}" for i in range(51)], reason="too many")
    assert "1 to 50" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        loose.terminate_jobs(jobs=["a"], reason="  ")
    assert "reason" in caught.value.response["Error"]["Message"]


ALICE = ("AKIAFRONTDOOR000001", "front-door-secret")


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("front-door-signed")
    credentials = root / "credentials"
    credentials.write_text(
        f"[alice]\naws_access_key_id = {ALICE[0]}\naws_secret_access_key = {ALICE[1]}\n"
        "aws_account_id = 111111111111\nbatchd_trusted = true\n"
    )
    with Server(root / "data", ["--executor", "local", "--credentials", str(credentials)]) as srv:
        yield srv


def signed(server: Server, service: str, target: str) -> tuple[int, Any]:
    request = AWSRequest(
        method="POST",
        url=f"{server.endpoint}/",
        data=b"{}",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(*ALICE), service, REGION).add_auth(request)
    status, _, body = raw(server, "POST", "/", b"{}", dict(request.headers.items()))
    return status, body


def test_signatures_are_checked_for_each_services_signing_name(signed_server: Server) -> None:
    status, body = signed(signed_server, "logs", "Logs_20140328.PutLogEvents")
    assert (status, body["__type"]) == (400, "InvalidOperationException")  # authenticated, then refused
    status, body = signed(signed_server, "batch", "Logs_20140328.PutLogEvents")
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    assert "'logs'" in body["message"]
    logs = boto3.client(
        "logs", endpoint_url=signed_server.endpoint, region_name=REGION,
        aws_access_key_id=ALICE[0], aws_secret_access_key="wrong",
    )  # fmt: skip
    with pytest.raises(ClientError) as caught:
        logs.describe_log_groups()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_pages_are_mounted_beside_the_protocols(server: Server) -> None:
    status, headers, body = raw(server, "GET", "/healthz", b"")
    assert status == 200 and body == {"status": "ok"}
