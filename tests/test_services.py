"""The one wiring (shopdb.services): built once, the only thing on app.state, closed at shutdown."""

from __future__ import annotations

from typing import Any

import pytest

from shopdb import app as app_module
from shopdb.app import create_app
from shopdb.db import Database
from shopdb.services import Services, services_of
from shopdb.wiring import build_services
from tests.fixtures.database import Backend


def _record_closing(services: Services, closed: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Note the order in which the parts are closed (each still closes for real)."""

    def recording(name: str, target: Any, method: str) -> None:
        real = getattr(target, method)

        async def close(*args: Any, **kwargs: Any) -> None:
            closed.append(name)
            await real(*args, **kwargs)

        monkeypatch.setattr(target, method, close)

    recording("access_invalidation", services.access_invalidation, "aclose")
    if services.product_cache is not None:
        recording("product_cache", services.product_cache, "aclose")
    if services.redis is not None:
        recording("redis", services.redis, "aclose")
    recording("database", services.database, "dispose")


class TestTheApplicationsServices:
    async def test_built_once_started_by_the_lifespan_and_closed_in_reverse(
        self, backend: Backend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        built: list[Services] = []

        def counting_build(*args: Any, **kwargs: Any) -> Services:
            built.append(build_services(*args, **kwargs))
            return built[-1]

        monkeypatch.setattr(app_module, "build_services", counting_build)
        application = create_app(backend.settings)
        services = services_of(application)
        closed: list[str] = []
        _record_closing(services, closed, monkeypatch)

        async with application.router.lifespan_context(application):
            assert services_of(application) is services
            during = services.adjustments
            hooks = list(services.database.after_commit)

        assert built == [services]
        # The batcher is built by the lifespan, on PostgreSQL only, and gone after it.
        assert (during is not None) == (backend.name == "postgresql")
        assert services.adjustments is None
        assert hooks == [services.journal.deliver, services.access_invalidation.after_commit]
        assert services.database.after_commit == []
        expected = ["access_invalidation", "product_cache", "redis", "database"]
        if services.product_cache is None:
            expected.remove("product_cache")
        if services.redis is None:
            expected.remove("redis")
        assert closed == expected

    def test_the_services_are_the_only_thing_on_app_state(self, backend: Backend) -> None:
        application = create_app(backend.settings)

        assert list(application.state._state) == ["services"]
        assert isinstance(services_of(application), Services)


class TestATestsServices:
    async def test_a_given_database_is_used_and_left_open(
        self, backend: Backend, database: Database
    ) -> None:
        services = build_services(backend.settings, database=database, redis=None)
        closed: list[str] = []
        with pytest.MonkeyPatch.context() as monkeypatch:
            _record_closing(services, closed, monkeypatch)
            assert services.database is database
            assert services.redis is None
            assert services.product_cache is None  # no Redis, no cache
            assert services.journal.deliver in database.after_commit

            await services.aclose()

        assert closed == ["access_invalidation"]  # the database is the test's to close
        assert services.journal.deliver not in database.after_commit
