from __future__ import annotations

import pytest

from tests.deploy import stack


@pytest.fixture(scope="session")
def compose() -> dict:
    return stack.load_compose()


@pytest.fixture(scope="session")
def services(compose) -> dict[str, stack.Service]:
    return stack.services(compose)


@pytest.fixture(scope="session")
def app_services(services) -> dict[str, stack.Service]:
    """The services built from docker/Dockerfile (weatherlake and the Spark daemons)."""
    return {name: service for name, service in services.items() if service.built_here}


@pytest.fixture(scope="session")
def weatherlake_services(app_services) -> dict[str, stack.Service]:
    """The services that run a ``weatherlake`` command."""
    return {name: s for name, s in app_services.items() if s.command[:1] == ["weatherlake"]}
