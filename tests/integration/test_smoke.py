from tests.support import make_environment, register, wait_status


def test_a_job_runs_to_success(client):  # type: ignore[no-untyped-def]
    queue = make_environment(client)
    register(client, "hello", ["sh", "-c", "echo hi"])
    job = client.submit_job(jobName="j", jobQueue=queue, jobDefinition="hello")
    done = wait_status(client, job["jobId"])
    assert done["status"] == "SUCCEEDED"
    assert done["container"]["exitCode"] == 0
