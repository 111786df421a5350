"""batchd.tenancy: trust and quotas from the credentials file, and the host mount allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchd.tenancy import Quota, Tenancy, check_mount_allow_list, load_tenancy


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_trust_and_quotas_come_from_the_profiles(tmp_path: Path) -> None:
    credentials = _write(
        tmp_path / "credentials",
        "[ops]\naws_access_key_id = A1\naws_secret_access_key = s\naws_account_id = 111111111111\n"
        "batchd_trusted = yes\n\n"
        "[team]\naws_access_key_id = A2\naws_secret_access_key = s\naws_account_id = 222222222222\n"
        "batchd_max_running_vcpus = 2.5\nbatchd_max_memory_mib = 1024\nbatchd_max_queued_jobs = 10\n",
    )
    tenancy = load_tenancy(credentials)
    assert tenancy.trusted("111111111111") and not tenancy.trusted("222222222222")
    assert tenancy.quota("222222222222") == Quota(2.5, 1024, 10)
    assert tenancy.quota("111111111111") == Quota()
    assert Tenancy().trusted("333333333333"), "open mode trusts its one account"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("batchd_trusted = maybe\n", "must be true or false"),
        ("batchd_max_queued_jobs = 1.5\n", "whole number"),
        ("batchd_max_running_vcpus = -1\n", "zero or more"),
        ("batchd_max_running_vcpus = nan\n", "zero or more"),
    ],
)
def test_bad_values_name_the_profile_and_key(tmp_path: Path, extra: str, words: str) -> None:
    credentials = _write(
        tmp_path / "credentials",
        "[team]\naws_access_key_id = A2\naws_secret_access_key = s\naws_account_id = 222222222222\n" + extra,
    )
    with pytest.raises(ValueError, match=words) as caught:
        load_tenancy(credentials)
    assert "[team]" in str(caught.value)


def test_allow_list_paths_resolve_links_and_dot_dot(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (shared / "link").symlink_to(tmp_path / "secret")
    allowed = check_mount_allow_list([str(shared)], tmp_path / "data")
    tenancy = Tenancy(frozenset(), {}, allowed)
    assert tenancy.host_path_allowed(str(shared))
    assert tenancy.host_path_allowed(str(shared / "sub"))
    assert not tenancy.host_path_allowed(str(shared / ".." / "secret"))
    assert not tenancy.host_path_allowed(str(shared / "link"))
    assert not tenancy.host_path_allowed("relative")
    assert not tenancy.host_path_allowed(str(tmp_path / "sharedness"))


@pytest.mark.parametrize("entry", ["/", "{data}", "{data}/logs", "{root}", "/var/run", "relative"])
def test_allow_list_never_exposes_the_host_or_batchd(tmp_path: Path, entry: str) -> None:
    data = tmp_path / "data"
    with pytest.raises(ValueError, match="allow-list"):
        check_mount_allow_list([entry.format(data=data, root=tmp_path)], data)
