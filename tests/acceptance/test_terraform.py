"""Acceptance: the unmodified `terraform` and hashicorp/aws provider manage Batch resources on batchd.

The configuration in terraform/main.tf is applied, planned again (which must show no drift, so
every answer batchd gives reads back as what the configuration says), changed in one tag variable,
applied again, and destroyed; boto3 against the same server checks each step.
terraform_scheduling_policy/main.tf does the same for a fair-share scheduling policy and the job queue
that uses it, changing one share's weight.

Terraform never downloads anything here: the provider comes from a local filesystem mirror, found
in $BATCHD_TERRAFORM_MIRROR or in one of MIRROR_CANDIDATES. The test skips when `terraform`
($BATCHD_TERRAFORM, else on PATH, else /usr/local/bin/terraform) or the mirror is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import Server, ce_arn, jd_arn, jq_arn, uniq

CONFIGURATION = Path(__file__).parent / "terraform" / "main.tf"
SCHEDULING_POLICY_CONFIGURATION = Path(__file__).parent / "terraform_scheduling_policy" / "main.tf"
PROVIDER = "registry.terraform.io/hashicorp/aws"
# Directories Terraform itself treats as implied local mirrors on Linux, plus /opt/tf-plugins.
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)
# Terraform's waiters poll with fixed delays of tens of seconds, and the machine may be loaded.
STEP_TIMEOUT = 600
# The provider's own waiters take about two minutes of the test's time (30 s after creating a queue, 60 s
# after deleting one), more on a busy machine: above the suite's default per-test limit.
pytestmark = pytest.mark.timeout(1800)
# The commands that would otherwise prompt; others (output, state) refuse -input=false.
INTERACTIVE = {"init", "plan", "apply", "destroy"}


def terraform_executable() -> str:
    configured = os.environ.get("BATCHD_TERRAFORM")
    if configured:
        if not os.access(configured, os.X_OK):
            pytest.skip(f"BATCHD_TERRAFORM={configured} is not an executable file")
        return configured
    found = shutil.which("terraform")
    if found is not None:
        return found
    if os.access("/usr/local/bin/terraform", os.X_OK):
        return "/usr/local/bin/terraform"
    pytest.skip("terraform is not installed (set BATCHD_TERRAFORM or put it on PATH)")


def provider_mirror() -> Path:
    """A filesystem mirror directory holding registry.terraform.io/hashicorp/aws."""
    configured = os.environ.get("BATCHD_TERRAFORM_MIRROR")
    candidates = [configured] if configured else list(MIRROR_CANDIDATES)
    for candidate in candidates:
        mirror = Path(candidate).expanduser()
        provider = mirror / PROVIDER
        if provider.is_dir() and any(provider.iterdir()):
            return mirror
    where = f"BATCHD_TERRAFORM_MIRROR={configured}" if configured else ", ".join(MIRROR_CANDIDATES)
    pytest.skip(f"no Terraform provider mirror holding {PROVIDER} in {where}")


class Terraform:
    """`terraform` in one working directory, with a CLI config that installs only from the mirror."""

    def __init__(self, executable: str, mirror: Path, workdir: Path, variables: dict[str, str]) -> None:
        self.executable = executable
        self.workdir = workdir
        self.variables = dict(variables)
        home = workdir.parent / "home"
        home.mkdir()
        cli_config = workdir.parent / "terraform.tfrc"
        cli_config.write_text(
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f"    path    = {quoted(str(mirror))}\n"
            f'    include = ["{PROVIDER}"]\n'
            "  }\n"
            "}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        env.update(
            HOME=str(home),
            TF_CLI_CONFIG_FILE=str(cli_config),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
            AWS_EC2_METADATA_DISABLED="true",
        )
        self.env = env

    def run(self, *args: str, variables: bool = True) -> subprocess.CompletedProcess[str]:
        flags = ["-no-color"]
        if args[0] in INTERACTIVE:
            flags.append("-input=false")
        if variables:
            flags += [f"-var={name}={value}" for name, value in self.variables.items()]
        return subprocess.run(
            [self.executable, *args, *flags],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )

    def __call__(self, *args: str, variables: bool = True, expect: int = 0) -> str:
        result = self.run(*args, variables=variables)
        assert result.returncode == expect, (
            f"terraform {' '.join(args)} exited {result.returncode}, expected {expect}:\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
        return result.stdout


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tags_of(client: Any, arn: str) -> dict[str, str]:
    return dict(client.list_tags_for_resource(resourceArn=arn)["tags"])


def only(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(items) == 1, f"expected one {what}, got {items}"
    return items[0]


def job_definition(client: Any, arn: str) -> dict[str, Any]:
    return only(client.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"], "job definition")


def initialized(configuration: Path, tmp_path: Path, variables: dict[str, str]) -> Terraform:
    """`terraform init` of a copy of `configuration` in a fresh directory; skips without terraform or
    the mirror."""
    executable = terraform_executable()
    mirror = provider_mirror()
    workdir = tmp_path / "work"
    workdir.mkdir()
    shutil.copy(configuration, workdir / "main.tf")
    tf = Terraform(executable, mirror, workdir, variables)
    init = tf("init", variables=False)
    assert "Terraform has been successfully initialized" in init, init
    return tf


def test_apply_plan_update_destroy(server: Server, client: Any, tmp_path: Path) -> None:
    prefix = uniq("tf")
    tf = initialized(CONFIGURATION, tmp_path, {"endpoint": server.endpoint, "prefix": prefix})

    managed, unmanaged = ce_arn(f"{prefix}-managed"), ce_arn(f"{prefix}-unmanaged")
    queue, definition = jq_arn(f"{prefix}-queue"), jd_arn(f"{prefix}-hello", 1)

    applied = tf("apply", "-auto-approve")
    assert "Resources: 4 added, 0 changed, 0 destroyed" in applied, applied
    outputs = tf("output", variables=False)
    for arn in (managed, unmanaged, queue, definition):
        assert f'"{arn}"' in outputs, outputs

    environments = {
        ce["computeEnvironmentArn"]: ce
        for ce in client.describe_compute_environments(computeEnvironments=[managed, unmanaged])[
            "computeEnvironments"
        ]
    }
    assert set(environments) == {managed, unmanaged}, environments
    ce = environments[managed]
    assert (ce["type"], ce["state"], ce["status"]) == ("MANAGED", "ENABLED", "VALID"), ce
    resources = ce["computeResources"]
    assert (resources["type"], resources["minvCpus"], resources["maxvCpus"]) == ("EC2", 0, 4), ce
    assert resources["instanceRole"] == "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole"
    assert ce["tags"] == {"team": "batch", "env": "test"}, ce
    assert environments[unmanaged]["type"] == "UNMANAGED"
    assert environments[unmanaged]["serviceRole"] == (
        "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    )
    assert environments[unmanaged]["tags"] == {"team": "batch"}
    assert tags_of(client, managed) == {"team": "batch", "env": "test"}
    assert tags_of(client, unmanaged) == {"team": "batch"}

    jq = only(client.describe_job_queues(jobQueues=[queue])["jobQueues"], "job queue")
    assert (jq["state"], jq["status"], jq["priority"]) == ("ENABLED", "VALID", 10), jq
    assert sorted((o["order"], o["computeEnvironment"]) for o in jq["computeEnvironmentOrder"]) == [
        (1, managed),
        (2, unmanaged),
    ], jq
    assert jq["tags"] == {"team": "batch"}, jq
    assert tags_of(client, queue) == {"team": "batch"}

    jd = job_definition(client, definition)
    assert (jd["status"], jd["type"], jd["revision"]) == ("ACTIVE", "container", 1), jd
    container = jd["containerProperties"]
    assert container["image"] == "busybox:latest", jd
    assert container["command"] == ["echo", "hello from terraform"], jd
    assert {(r["type"], r["value"]) for r in container["resourceRequirements"]} == {
        ("VCPU", "1"),
        ("MEMORY", "64"),
    }, jd
    assert container["environment"] == [{"name": "GREETING", "value": "hello"}], jd
    assert jd["retryStrategy"]["attempts"] == 2, jd
    assert jd["timeout"] == {"attemptDurationSeconds": 60}, jd
    assert jd["tags"] == {"team": "batch"}, jd
    assert tags_of(client, definition) == {"team": "batch"}

    # Reading everything back must give exactly what was written: no drift.
    tf("plan", "-detailed-exitcode")

    # A changed tag is an in-place update of every resource, not a replacement.
    tf.variables["team"] = "data"
    updated = tf("apply", "-auto-approve")
    assert "Resources: 0 added, 4 changed, 0 destroyed" in updated, updated
    assert tags_of(client, managed) == {"team": "data", "env": "test"}
    assert tags_of(client, unmanaged) == {"team": "data"}
    assert tags_of(client, queue) == {"team": "data"}
    assert tags_of(client, definition) == {"team": "data"}
    jd = job_definition(client, definition)
    assert (jd["status"], jd["revision"], jd["tags"]) == ("ACTIVE", 1, {"team": "data"}), jd
    tf("plan", "-detailed-exitcode")

    destroyed = tf("destroy", "-auto-approve")
    assert "Resources: 4 destroyed" in destroyed, destroyed
    # As on AWS: deleted environments and queues vanish, a deregistered revision stays INACTIVE.
    assert (
        client.describe_compute_environments(computeEnvironments=[managed, unmanaged])["computeEnvironments"]
        == []
    )
    assert client.describe_job_queues(jobQueues=[queue])["jobQueues"] == []
    jd = job_definition(client, definition)
    assert jd["status"] == "INACTIVE", jd
    active = client.describe_job_definitions(jobDefinitionName=f"{prefix}-hello", status="ACTIVE")
    assert active["jobDefinitions"] == [], active
    state = tf("state", "list", variables=False)
    assert state.strip() == "", state


def scheduling_policy(client: Any, arn: str) -> dict[str, Any]:
    return only(client.describe_scheduling_policies(arns=[arn])["schedulingPolicies"], "scheduling policy")


def test_scheduling_policy_and_fair_share_queue(server: Server, client: Any, tmp_path: Path) -> None:
    prefix = uniq("tfsp")
    tf = initialized(
        SCHEDULING_POLICY_CONFIGURATION, tmp_path, {"endpoint": server.endpoint, "prefix": prefix}
    )
    policy = f"arn:aws:batch:us-east-1:123456789012:scheduling-policy/{prefix}-policy"
    queue, unmanaged = jq_arn(f"{prefix}-fair"), ce_arn(f"{prefix}-unmanaged")

    applied = tf("apply", "-auto-approve")
    assert "Resources: 3 added, 0 changed, 0 destroyed" in applied, applied
    outputs = tf("output", variables=False)
    for arn in (policy, queue):
        assert f'"{arn}"' in outputs, outputs

    sp = scheduling_policy(client, policy)
    assert sp["name"] == f"{prefix}-policy", sp
    fair = sp["fairsharePolicy"]
    assert (fair["computeReservation"], fair["shareDecaySeconds"]) == (25, 3600), sp
    assert sorted((d["shareIdentifier"], d["weightFactor"]) for d in fair["shareDistribution"]) == [
        ("teamA", 0.5),
        ("teamB*", 1.0),
    ], sp
    assert sp["tags"] == {"team": "batch"}, sp
    assert tags_of(client, policy) == {"team": "batch"}

    jq = only(client.describe_job_queues(jobQueues=[queue])["jobQueues"], "job queue")
    assert (jq["state"], jq["status"], jq["priority"]) == ("ENABLED", "VALID", 1), jq
    assert jq["schedulingPolicyArn"] == policy, jq
    assert [(o["order"], o["computeEnvironment"]) for o in jq["computeEnvironmentOrder"]] == [(1, unmanaged)]

    # Reading everything back must give exactly what was written: no drift.
    tf("plan", "-detailed-exitcode")

    # A changed weight is an in-place update of the policy; the queue keeps pointing at it.
    tf.variables["heavy_weight"] = "0.25"
    updated = tf("apply", "-auto-approve")
    assert "Resources: 0 added, 1 changed, 0 destroyed" in updated, updated
    fair = scheduling_policy(client, policy)["fairsharePolicy"]
    assert sorted((d["shareIdentifier"], d["weightFactor"]) for d in fair["shareDistribution"]) == [
        ("teamA", 0.25),
        ("teamB*", 1.0),
    ], fair
    assert (fair["computeReservation"], fair["shareDecaySeconds"]) == (25, 3600), fair
    jq = only(client.describe_job_queues(jobQueues=[queue])["jobQueues"], "job queue")
    assert jq["schedulingPolicyArn"] == policy, jq
    tf("plan", "-detailed-exitcode")

    destroyed = tf("destroy", "-auto-approve")
    assert "Resources: 3 destroyed" in destroyed, destroyed
    assert client.describe_scheduling_policies(arns=[policy])["schedulingPolicies"] == []
    assert client.describe_job_queues(jobQueues=[queue])["jobQueues"] == []
    assert client.describe_compute_environments(computeEnvironments=[unmanaged])["computeEnvironments"] == []
    state = tf("state", "list", variables=False)
    assert state.strip() == "", state
