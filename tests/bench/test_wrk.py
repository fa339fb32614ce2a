"""bench/lua/requests.lua under a real wrk: the request bound stops a run before its duration.

Needs wrk (`make bench` installs it with apt-get); skipped, with the reason shown, without it.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.wrk import WrkRun, run_wrk

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server
    served = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with Counting.lock:
            Counting.served += 1
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk drops its connections at the end of a run


@pytest.fixture
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_run_stops_sending_at_its_request_bound(server: str, tmp_path: Path) -> None:
    requests = tmp_path / "requests.txt"
    requests.write_text("GET\t/a\nGET\t/b\n")
    Counting.served = 0
    run = WrkRun(
        url=server,
        requests_file=requests,
        token="t",
        duration_s=3,  # thousands of requests, unbounded
        connections=2,
        max_requests=50,
    )
    result = await run_wrk(run)
    # The thread stops after sending the 50th (unbounded, 3 s would be thousands); wrk still
    # waits out the duration, its main thread asleep, and the last responses may go uncounted.
    assert Counting.served <= 50
    assert 25 <= result["requests"] <= 50
    assert result["errors"]["total"] == 0
