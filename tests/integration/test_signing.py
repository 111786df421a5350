"""SigV4 verification, account isolation and the remote-bind guard (docs/api.md, Signatures and accounts)."""

from __future__ import annotations

import datetime
import http.client
import json
import subprocess
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support import BATCHD, Server, free_port, make_environment, register, uniq, wait_for

ALICE = {"key": "AKIAALICE0000000001", "secret": "alice/secret+with%chars", "account": "111111111111"}
BOB = {"key": "AKIABOB00000000000002", "secret": "bob-secret", "account": "222222222222"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("signing")
    credentials = root / "credentials"
    credentials.write_text(
        "[alice]\n"
        f"aws_access_key_id = {ALICE['key']}\n"
        f"aws_secret_access_key = {ALICE['secret']}\n"
        f"aws_account_id = {ALICE['account']}\n"
        # Trusted: these tests are of signatures and accounts, on the local executor (see test_tenancy.py).
        "batchd_trusted = true\n"
        "\n"
        "[bob]\n"
        f"aws_access_key_id = {BOB['key']}\n"
        f"aws_secret_access_key = {BOB['secret']}\n"
        f"aws_account_id = {BOB['account']}\n"
        "batchd_trusted = true\n"
        "region = us-east-1\n"
    )
    with Server(root / "data", ["--executor", "local", "--credentials", str(credentials)]) as srv:
        yield srv


@pytest.fixture
def alice(server):  # type: ignore[no-untyped-def]
    return server.client(ALICE["key"], ALICE["secret"])


@pytest.fixture
def bob(server):  # type: ignore[no-untyped-def]
    return server.client(BOB["key"], BOB["secret"])


def error_of(call, *args: Any, **kwargs: Any) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def raw(server: Server, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data)
    finally:
        conn.close()


def signed_headers(server: Server, path: str, body: bytes, key: str, secret: str) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=f"{server.endpoint}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(key, secret), "batch", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def environment_names(client) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        ce["computeEnvironmentName"] for ce in client.describe_compute_environments()["computeEnvironments"]
    ]


def test_correct_keys_work_and_arns_carry_the_profile_account(alice, bob):  # type: ignore[no-untyped-def]
    name = uniq("ce")
    created = alice.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
    )
    assert (
        created["computeEnvironmentArn"]
        == f"arn:aws:batch:us-east-1:{ALICE['account']}:compute-environment/{name}"
    )
    detail = alice.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"][0]
    assert f":{ALICE['account']}:" in detail["ecsClusterArn"]
    arn = register(bob, uniq("jd"), ["true"])
    assert arn.startswith(f"arn:aws:batch:us-east-1:{BOB['account']}:job-definition/")


def test_wrong_secret_is_an_invalid_signature_and_changes_nothing(server, alice):  # type: ignore[no-untyped-def]
    intruder = server.client(ALICE["key"], "not-the-secret")
    name = uniq("forged")
    status, code, message = error_of(
        intruder.create_compute_environment,
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
    )
    assert (status, code) == (403, "InvalidSignatureException")
    assert message
    assert name not in environment_names(alice)


def test_unknown_access_key_is_unrecognized(server, alice):  # type: ignore[no-untyped-def]
    stranger = server.client("AKIANOBODY0000000000", "whatever")
    name = uniq("stranger")
    status, code, _ = error_of(
        stranger.create_compute_environment,
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
    )
    assert (status, code) == (403, "UnrecognizedClientException")
    assert name not in environment_names(alice)


def test_no_authorization_header_is_a_missing_token(server, alice):  # type: ignore[no-untyped-def]
    name = uniq("anon")
    body = json.dumps(
        {
            "computeEnvironmentName": name,
            "type": "MANAGED",
            "computeResources": {"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
        }
    ).encode()
    status, headers, payload = raw(
        server, "/v1/createcomputeenvironment", body, {"Content-Type": "application/json"}
    )
    assert status == 403
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert payload["__type"] == "MissingAuthenticationTokenException"
    assert payload["message"]
    assert name not in environment_names(alice)


@pytest.mark.parametrize(
    "authorization",
    [
        "garbage",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKIAALICE0000000001",
        "AWS4-HMAC-SHA256 Credential=AKIAALICE0000000001/20240101/us-east-1/batch/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=nothex",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(server, alice, authorization):  # type: ignore[no-untyped-def]
    name = uniq("malformed")
    body = json.dumps({"jobQueueName": name, "priority": 1, "computeEnvironmentOrder": []}).encode()
    headers = signed_headers(server, "/v1/createjobqueue", body, ALICE["key"], ALICE["secret"])
    headers["Authorization"] = authorization
    status, response_headers, payload = raw(server, "/v1/createjobqueue", body, headers)
    assert status == 400
    assert response_headers["x-amzn-errortype"] == "IncompleteSignatureException"
    assert payload["__type"] == "IncompleteSignatureException"
    assert payload["message"]


def test_a_request_signed_by_hand_is_accepted(server, alice):  # type: ignore[no-untyped-def]
    """The control for the expiry test below: same signing code, current time."""
    body = json.dumps({}).encode()
    headers = signed_headers(server, "/v1/describejobqueues", body, ALICE["key"], ALICE["secret"])
    status, _, payload = raw(server, "/v1/describejobqueues", body, headers)
    assert status == 200
    assert "jobQueues" in payload


def test_a_signature_20_minutes_old_has_expired(server, alice, monkeypatch):  # type: ignore[no-untyped-def]
    name = uniq("stale")
    body = json.dumps(
        {
            "computeEnvironmentName": name,
            "type": "MANAGED",
            "computeResources": {"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
        }
    ).encode()
    stale = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: stale)
    headers = signed_headers(server, "/v1/createcomputeenvironment", body, ALICE["key"], ALICE["secret"])
    monkeypatch.undo()
    assert headers["X-Amz-Date"] == stale.strftime("%Y%m%dT%H%M%SZ")
    status, response_headers, payload = raw(server, "/v1/createcomputeenvironment", body, headers)
    assert status == 403
    assert response_headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "Signature expired" in payload["message"]
    assert name not in environment_names(alice)


def test_a_signature_from_the_future_has_expired_too(server, alice, monkeypatch):  # type: ignore[no-untyped-def]
    body = b"{}"
    future = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: future)
    headers = signed_headers(server, "/v1/describejobqueues", body, ALICE["key"], ALICE["secret"])
    monkeypatch.undo()
    status, response_headers, _ = raw(server, "/v1/describejobqueues", body, headers)
    assert status == 403
    assert response_headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_a_tampered_body_is_an_invalid_signature(server, alice):  # type: ignore[no-untyped-def]
    name = uniq("tampered")
    request = {
        "jobDefinitionName": name,
        "type": "container",
        "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 8},
    }
    body = json.dumps(request).encode()
    headers = signed_headers(server, "/v1/registerjobdefinition", body, ALICE["key"], ALICE["secret"])
    tampered = body.replace(b'"vcpus": 1', b'"vcpus": 9')
    status, response_headers, _ = raw(server, "/v1/registerjobdefinition", tampered, headers)
    assert status == 403
    assert response_headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert alice.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"] == []


def test_accounts_are_isolated(server, alice, bob):  # type: ignore[no-untyped-def]
    ce, queue, jd = uniq("shared-ce"), uniq("shared-q"), uniq("shared-jd")
    make_environment(alice, name=ce, queue=queue, max_vcpus=1)
    alice.update_compute_environment(computeEnvironment=ce, state="DISABLED")
    register(alice, jd, ["true"])
    job = alice.submit_job(jobName="private", jobQueue=queue, jobDefinition=jd)["jobId"]

    # Bob sees none of it, by name or by ARN.
    assert bob.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"] == []
    alice_ce_arn = f"arn:aws:batch:us-east-1:{ALICE['account']}:compute-environment/{ce}"
    assert bob.describe_compute_environments(computeEnvironments=[alice_ce_arn])["computeEnvironments"] == []
    assert ce not in environment_names(bob)
    assert bob.describe_job_queues(jobQueues=[queue])["jobQueues"] == []
    assert queue not in [q["jobQueueName"] for q in bob.describe_job_queues()["jobQueues"]]
    assert bob.describe_job_definitions(jobDefinitionName=jd)["jobDefinitions"] == []
    assert bob.describe_job_definitions(jobDefinitions=[f"{jd}:1"])["jobDefinitions"] == []
    assert bob.describe_jobs(jobs=[job])["jobs"] == []
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.submit_job(jobName="sneaky", jobQueue=queue, jobDefinition=jd)
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.submit_job(
            jobName="sneaky",
            jobQueue=f"arn:aws:batch:us-east-1:{ALICE['account']}:job-queue/{queue}",
            jobDefinition=jd,
        )
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.cancel_job(jobId=job, reason="not mine")
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.terminate_job(jobId=job, reason="not mine")
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.list_jobs(jobQueue=queue)
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.update_job_queue(jobQueue=queue, state="DISABLED")
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.delete_compute_environment(computeEnvironment=ce)
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.deregister_job_definition(jobDefinition=f"{jd}:1")

    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob_queue = make_environment(bob, name=uniq("bob-ce"), queue=uniq("bob-q"), max_vcpus=1)
        bob_jd = uniq("bob-jd")
        register(bob, bob_jd, ["true"])
        bob.submit_job(jobName="after", jobQueue=bob_queue, jobDefinition=bob_jd, dependsOn=[{"jobId": job}])
    # Bob's nextToken means nothing to Alice.
    for index in range(3):
        register(bob, f"{jd}-bob-{index}", ["true"])
    token = bob.describe_job_definitions(maxResults=1)["nextToken"]
    with pytest.raises(alice.exceptions.ClientException):
        alice.describe_job_definitions(maxResults=1, nextToken=token)

    # Alice's things are untouched.
    assert alice.describe_jobs(jobs=[job])["jobs"][0]["status"] in ("SUBMITTED", "PENDING", "RUNNABLE")
    assert alice.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["state"] == "ENABLED"
    assert (
        alice.describe_job_definitions(jobDefinitions=[f"{jd}:1"])["jobDefinitions"][0]["status"] == "ACTIVE"
    )

    # Bob may use the same names; his revision numbering starts at 1.
    make_environment(bob, name=ce, queue=queue, max_vcpus=1)
    bob_ce = bob.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]
    assert (
        bob_ce["computeEnvironmentArn"]
        == f"arn:aws:batch:us-east-1:{BOB['account']}:compute-environment/{ce}"
    )
    assert register(bob, jd, ["true"]) == f"arn:aws:batch:us-east-1:{BOB['account']}:job-definition/{jd}:1"
    # An ARN of Alice's account never names Bob's resource of the same name.
    assert bob.describe_compute_environments(computeEnvironments=[alice_ce_arn])["computeEnvironments"] == []
    alice_queue_arn = f"arn:aws:batch:us-east-1:{ALICE['account']}:job-queue/{queue}"
    assert bob.describe_job_queues(jobQueues=[alice_queue_arn])["jobQueues"] == []
    alice_jd_arn = f"arn:aws:batch:us-east-1:{ALICE['account']}:job-definition/{jd}:1"
    assert bob.describe_job_definitions(jobDefinitions=[alice_jd_arn])["jobDefinitions"] == []
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.submit_job(jobName="cross", jobQueue=alice_queue_arn, jobDefinition=jd)
    with pytest.raises(bob.exceptions.ClientException, match="does not exist"):
        bob.submit_job(jobName="cross", jobQueue=queue, jobDefinition=alice_jd_arn)
    bob_job = bob.submit_job(jobName="mine", jobQueue=queue, jobDefinition=jd)["jobId"]
    assert alice.describe_jobs(jobs=[bob_job])["jobs"] == []
    assert [j["jobId"] for j in bob.describe_jobs(jobs=[job, bob_job])["jobs"]] == [bob_job]
    assert (
        alice.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]["state"]
        == "DISABLED"
    )
    wait_for(lambda: bob.describe_jobs(jobs=[bob_job])["jobs"][0]["status"] in ("SUCCEEDED", "FAILED"))


def test_remote_bind_without_credentials_is_refused(tmp_path):  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [
            *BATCHD,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "--credentials" in result.stderr
    assert "0.0.0.0" in result.stderr


def test_remote_bind_is_allowed_with_allow_open_remote(tmp_path):  # type: ignore[no-untyped-def]
    flags = ["--host", "0.0.0.0", "--allow-open-remote", "--executor", "local"]
    with Server(tmp_path / "data", flags) as srv:
        assert srv.client().describe_job_queues()["jobQueues"] == []


def test_remote_bind_is_allowed_with_credentials(tmp_path):  # type: ignore[no-untyped-def]
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[a]\naws_access_key_id = {ALICE['key']}\naws_secret_access_key = s\n"
        f"aws_account_id = {ALICE['account']}\n"
    )
    flags = ["--host", "0.0.0.0", "--credentials", str(credentials), "--executor", "local"]
    with Server(tmp_path / "data", flags) as srv:
        assert srv.client(ALICE["key"], "s").describe_job_queues()["jobQueues"] == []


def test_a_bad_credentials_file_stops_the_server_with_a_clear_message(tmp_path):  # type: ignore[no-untyped-def]
    credentials = tmp_path / "credentials"
    credentials.write_text("[a]\naws_access_key_id = AKIA1\naws_secret_access_key = s\naws_account_id = 12\n")
    result = subprocess.run(
        [*BATCHD, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"),
         "--credentials", str(credentials)],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "aws_account_id" in result.stderr
    assert "Traceback" not in result.stderr
