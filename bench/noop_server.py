"""A Batch endpoint that does nothing: every POST gets 200 and "{}".

boto3 against it costs request signing, one HTTP round trip and response parsing, the floor under every
API figure. Run as a child process (python -m bench.noop_server PORT) so it does not share the GIL with
the client being timed.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_BODY = b"{}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 uses
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's delayed
    # ACK (~40 ms) and the floor would measure TCP timers instead of boto3.
    disable_nagle_algorithm = True

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_BODY)))
        self.end_headers()
        self.wfile.write(_BODY)

    do_POST = _reply
    do_GET = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
