"""What an untrusted caller may ask for (docs/security.md): refused at the API with a reason, never
changed silently. The executors enforce the same again at launch, for definitions stored earlier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchd.domain.compute_environments import EXECUTOR_TAG
from batchd.errors import ClientException
from batchd.service.common import Caller
from batchd.tenancy import Tenancy


def check_executor_choice(caller: Caller, tags: Mapping[str, str] | None, default_executor: str) -> None:
    """Untrusted callers get containers only: neither the executor tag nor a local-process default."""
    if caller.trusted:
        return
    if EXECUTOR_TAG in (tags or {}):
        raise ClientException(
            f"Tag {EXECUTOR_TAG} is reserved for trusted accounts on this server: account {caller.account} "
            "is not trusted, so its jobs run in confined containers chosen by the server."
        )
    if default_executor == "local":
        raise ClientException(
            "This server runs jobs as local host processes, which only trusted accounts may use; account "
            f"{caller.account} is not trusted. Ask the operator to serve with a Docker engine or to trust "
            "the account."
        )


def check_container_allowed(caller: Caller, container: Mapping[str, Any], tenancy: Tenancy) -> None:
    """Privileged containers and host mounts outside the operator's allow-list are for trusted callers."""
    if caller.trusted:
        return
    if container.get("privileged"):
        raise ClientException(
            f"containerProperties.privileged is not allowed: account {caller.account} is not trusted on "
            "this server."
        )
    for volume in container.get("volumes") or []:
        source = (volume.get("host") or {}).get("sourcePath")
        if source and not tenancy.host_path_allowed(str(source)):
            raise ClientException(
                f"Volume '{volume.get('name')}' mounts host path {str(source)[:256]!r}, which is not in this "
                f"server's host mount allow-list: account {caller.account} is not trusted."
            )
