"""localstripe, started once per run as a real process on 127.0.0.1, for the Stripe gateway."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shopdb.payments.gateways.stripe import StripeGateway

SERVER = Path(__file__).with_name("localstripe_server.py")
API_KEY = "sk_test_shopdb"
START_SECONDS = 30.0


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _wait_until_answering(process: subprocess.Popen[bytes], port_file: Path, log: Path) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"localstripe exited with status {process.returncode} before answering:\n"
                + log.read_text(errors="replace")
            )
        if port_file.exists():
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            try:
                answer = httpx.get(f"{url}/v1/balance", auth=(API_KEY, ""), timeout=1.0)
            except httpx.TransportError:
                pass
            else:
                if answer.status_code == 200:
                    return url
        time.sleep(0.1)
    pytest.fail(
        f"localstripe did not answer within {START_SECONDS:.0f} s:\n"
        + log.read_text(errors="replace")
    )


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("localstripe") is None:
        install = "install the dev dependencies: pip install -c constraints.txt -e '.[dev]'"
        if _under_ci():
            pytest.fail(f"localstripe is not installed, and CI never skips these tests: {install}")
        pytest.skip(f"localstripe is not installed; {install}")
    workdir = tmp_path_factory.mktemp("localstripe")
    port_file, log = workdir / "port", workdir / "localstripe.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our interpreter and our script
            [sys.executable, str(SERVER), "--port-file", str(port_file)],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        yield _wait_until_answering(process, port_file, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def stripe_gateway(localstripe_url: str) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(api_key=API_KEY, api_base=localstripe_url, max_network_retries=0)
    try:
        yield gateway
    finally:
        await gateway.aclose()


async def posts_received(localstripe_url: str) -> list[dict[str, str | None]]:
    """The POSTs localstripe received so far, with their Idempotency-Key headers."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        answer = await http.get(f"{localstripe_url}/_shopdb/requests")
    answer.raise_for_status()
    posts: list[dict[str, str | None]] = answer.json()
    return posts
