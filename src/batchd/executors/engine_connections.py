"""Connection reuse for the Docker SDK over a unix socket.

docker-py's `UnixHTTPAdapter` keys its connection pools by the whole request URL, and every container
has URLs of its own (`/containers/<id>/start`, `/wait`, `/json`, ...). So each call about a new container
opens a new socket, builds a new pool, and evicts and closes an older one once 25 exist: on a busy
engine the server spends more CPU connecting and closing than calling. One pool for the socket lets
every call reuse an idle connection, whatever its path.
"""

from __future__ import annotations

from typing import Any

import docker
from docker.transport.unixconn import UnixHTTPAdapter

_SCHEME = "http+docker://"
_POOL_KEY = "http+docker://localhost"


class _SocketPoolAdapter(UnixHTTPAdapter):
    """Every request URL maps to the same pool."""

    def get_connection(self, url: Any, proxies: Any = None) -> Any:
        return super().get_connection(_POOL_KEY, proxies)


def share_connections(api: docker.APIClient) -> docker.APIClient:
    """Give a client talking to a unix socket one connection pool for all paths; others are left as is
    (TCP keys pools by host already)."""
    adapter = api.adapters.get(_SCHEME)
    if type(adapter) is UnixHTTPAdapter:
        shared = _SocketPoolAdapter(
            adapter.socket_path, timeout=adapter.timeout, max_pool_size=adapter.max_pool_size
        )
        api.mount(_SCHEME, shared)
        adapter.close()
    return api
