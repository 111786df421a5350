"""The EventBridge shape of a job event, the /events query options and webhook URL checks."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from batchd.errors import ClientException
from batchd.events.hub import EventHub
from batchd.events.shape import envelope, event_id, iso_time, region_of, to_json
from batchd.events.stream import parse_options
from batchd.events.webhooks import webhook_problem
from batchd.store.sqlite import JobEvent

ARN = "arn:aws:batch:eu-west-2:111111111111:job/3f1c0e9a-2b1d-4c5e-8f00-1234567890ab"


def job_event(seq: int = 7, job_id: str = "3f1c0e9a-2b1d-4c5e-8f00-1234567890ab", **doc: Any) -> JobEvent:
    detail = {"jobArn": ARN, "jobId": job_id, "status": "RUNNING", "jobName": "a\nb", **doc}
    return JobEvent(seq=seq, account="111111111111", job_id=job_id, at=1641944200123, doc=detail)


def test_envelope_has_eventbridge_fields() -> None:
    event = job_event()
    shaped = envelope(event)
    assert shaped == {
        "version": "0",
        "id": shaped["id"],
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": "111111111111",
        "time": "2022-01-11T23:36:40Z",
        "region": "eu-west-2",
        "resources": [ARN],
        "detail": event.doc,
    }
    assert uuid.UUID(shaped["id"]).version == 5


def test_id_is_the_same_for_the_same_event_and_differs_between_events() -> None:
    assert envelope(job_event(7))["id"] == envelope(job_event(7))["id"] == event_id(job_event().job_id, 7)
    assert envelope(job_event(7))["id"] != envelope(job_event(8))["id"]
    assert event_id("a", 7) != event_id("b", 7)


def test_time_is_whole_seconds_utc() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time(1641944200999) == "2022-01-11T23:36:40Z"


def test_region_comes_from_the_job_arn_array_children_included() -> None:
    assert region_of(ARN + ":2") == "eu-west-2"
    assert region_of("not-an-arn") == ""


def test_json_is_one_line() -> None:
    text = to_json(job_event())
    assert "\n" not in text
    assert json.loads(text)["detail"]["jobName"] == "a\nb"


# --- GET /events options --------------------------------------------------------------------------


def test_defaults_start_at_the_beginning_and_follow() -> None:
    options = parse_options("", None)
    assert (options.after, options.job, options.follow) == (0, None, True)


def test_last_event_id_wins_over_after() -> None:
    assert parse_options("after=3", "9").after == 9
    assert parse_options("after=3", "").after == 3
    assert parse_options("after=3&job=j%3A1&follow=false", None) == parse_options(
        "job=j:1&after=3&follow=0", None
    )
    assert parse_options("follow=false&job=j:1", None).job == "j:1"


@pytest.mark.parametrize(
    ("query", "last_event_id", "needle"),
    [
        ("after=x", None, "after must be an event id"),
        ("after=-1", None, "after must be an event id"),
        ("after=", None, "after must be an event id"),
        ("after=1.5", None, "after must be an event id"),
        ("after=99999999999999999999", None, "after must be an event id"),
        ("", "abc", "Last-Event-ID must be an event id"),
        ("after=1&after=2", None, "more than once"),
        ("jobs=x", None, "no query parameter 'jobs'"),
        ("follow=maybe", None, "follow must be true or false"),
        ("job=", None, "job must be a job id"),
    ],
)
def test_bad_options_are_client_errors(query: str, last_event_id: str | None, needle: str) -> None:
    with pytest.raises(ClientException) as caught:
        parse_options(query, last_event_id)
    assert needle in caught.value.message
    assert caught.value.status == 400


def test_presigned_query_members_are_left_to_authentication() -> None:
    assert parse_options("X-Amz-Signature=abc&after=2", None).after == 2


# --- webhooks and the hub -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "https://example.com/x?token=abc"])
def test_good_webhook_urls(url: str) -> None:
    assert webhook_problem(url) is None


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http:///path", "with a host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://user:pw@example.com/", "user:password@"),
    ],
)
def test_bad_webhook_urls(url: str, needle: str) -> None:
    problem = webhook_problem(url)
    assert problem is not None and needle in problem


def test_hub_wakes_waiters_once_and_for_good_when_closed() -> None:
    async def scenario() -> None:
        hub = EventHub()
        first = hub.next_change()
        assert not first.done()
        hub.notify()
        assert first.done()
        idle = hub.next_change()
        hub.forget(idle)
        hub.notify()
        assert idle.cancelled()
        hub.close()
        assert hub.next_change().done()

    asyncio.run(scenario())
