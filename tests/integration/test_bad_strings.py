"""Strings a process cannot be given: refused at the API, not discovered when the job runs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support import make_environment, register


def test_lone_surrogate_is_a_client_error(server) -> None:  # type: ignore[no-untyped-def]
    request = urllib.request.Request(
        f"{server.endpoint}/v1/registerjobdefinition",
        data=b'{"jobDefinitionName":"s","type":"container","containerProperties":'
        b'{"image":"busybox","vcpus":1,"memory":8,"command":["echo","\\ud800"]}}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert "surrogate" in json.loads(caught.value.read())["message"]
    assert server.client().describe_job_definitions(jobDefinitionName="s")["jobDefinitions"] == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"command": ["echo", "a\x00b"]},
        {"environment": [{"name": "", "value": "x"}]},
        {"environment": [{"name": "A=B", "value": "x"}]},
    ],
)
def test_unrunnable_overrides_are_refused(client, overrides) -> None:  # type: ignore[no-untyped-def]
    queue = make_environment(client)
    register(client, "ok", ["true"])
    with pytest.raises(ClientError) as caught:
        client.submit_job(jobName="bad", jobQueue=queue, jobDefinition="ok", containerOverrides=overrides)
    assert caught.value.response["Error"]["Code"] == "ClientException"
    assert (
        client.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["bad"]}])["jobSummaryList"]
        == []
    )
