"""boto3 clients and the fixtures every workload needs (compute environment, queue, job definition)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from bench.settings import CE_MAX_VCPUS, COMMAND, IMAGE, JOB_MEMORY_MIB, JOB_VCPUS, REGION

# Retries would hide errors inside latency figures, so every call is made exactly once.
_CONFIG = dict(
    region_name=REGION,
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=10,
    # Long enough for a peer that returns 100k jobs from one ListJobs call.
    read_timeout=600,
    tcp_keepalive=True,
)

Client = Any  # boto3 ships no type information for its generated clients


def make_client(endpoint: str, service: str = "batch") -> Client:
    # A session per client: boto3's default session is not safe to share across threads.
    session = boto3.session.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
    )
    return session.client(service, endpoint_url=endpoint, config=Config(**_CONFIG))


@dataclass(frozen=True)
class Network:
    """What a MANAGED compute environment refers to. moto checks that these exist; batchd does not."""

    service_role: str = "arn:aws:iam::123456789012:role/AWSBatchServiceRole"
    instance_role: str = "ecsInstanceRole"
    subnets: tuple[str, ...] = ("subnet-1",)
    security_groups: tuple[str, ...] = ("sg-1",)


def provision_network(endpoint: str, family: str) -> Network:
    """moto validates the role, instance profile, subnet and security group against its own IAM and
    EC2 mocks, so create them there first (not timed). The other targets take the literal ids."""
    if family != "moto":
        return Network()
    iam = make_client(endpoint, "iam")
    ec2 = make_client(endpoint, "ec2")
    role = iam.create_role(RoleName="AWSBatchServiceRole", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName="ecsInstanceRole")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="bench", Description="bench", VpcId=vpc)["GroupId"]
    return Network(service_role=role, subnets=(subnet,), security_groups=(sg,))


def ce_request(name: str, net: Network, state: str) -> dict[str, Any]:
    return {
        "computeEnvironmentName": name,
        "type": "MANAGED",
        "state": state,
        "serviceRole": net.service_role,
        "computeResources": {
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": CE_MAX_VCPUS,
            "instanceTypes": ["optimal"],
            "subnets": list(net.subnets),
            "securityGroupIds": list(net.security_groups),
            "instanceRole": net.instance_role,
        },
    }


def queue_request(name: str, ce_name: str) -> dict[str, Any]:
    return {
        "jobQueueName": name,
        "state": "ENABLED",
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce_name}],
    }


def job_definition_request(name: str) -> dict[str, Any]:
    return {
        "jobDefinitionName": name,
        "type": "container",
        "containerProperties": {
            "image": IMAGE,
            "command": COMMAND,
            "vcpus": JOB_VCPUS,
            "memory": JOB_MEMORY_MIB,
        },
    }


def wait_settled(client: Client, kind: str, name: str, timeout_s: float = 60.0) -> None:
    """Real Batch creates and updates asynchronously (CREATING/UPDATING before VALID); wait it out,
    untimed, so the next timed call does not race the previous one."""
    deadline = time.monotonic() + timeout_s
    while True:
        if kind == "ce":
            items = client.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
        else:
            items = client.describe_job_queues(jobQueues=[name])["jobQueues"]
        status = items[0].get("status") if items else None
        if status == "VALID":
            return
        if status == "INVALID":
            reason = items[0].get("statusReason", "")
            raise RuntimeError(f"{kind} {name} is INVALID: {reason}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{kind} {name} still {status} after {timeout_s:.0f} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class Fixture:
    ce: str
    queue: str
    job_definition: str  # ARN


def setup_fixture(client: Client, net: Network, prefix: str, ce_state: str) -> Fixture:
    """One compute environment, queue and job definition. ce_state DISABLED keeps jobs queued on batchd."""
    ce, queue, jd = f"{prefix}-ce", f"{prefix}-q", f"{prefix}-jd"
    client.create_compute_environment(**ce_request(ce, net, ce_state))
    wait_settled(client, "ce", ce)
    client.create_job_queue(**queue_request(queue, ce))
    wait_settled(client, "queue", queue)
    arn = client.register_job_definition(**job_definition_request(jd))["jobDefinitionArn"]
    return Fixture(ce=ce, queue=queue, job_definition=arn)
