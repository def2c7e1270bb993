"""Fixtures for tests against a real LiteLLM proxy (see ``litellm_proxy.py`` for how it runs).

One proxy serves the whole session (it takes several seconds to start). Tests here are skipped,
with the reason shown, only when LiteLLM is not installed; a proxy that is installed but fails to
start is an error, not a skip.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from tests.integration.litellm_proxy import Proxy, litellm_executable, standard_models, start_proxy

LITELLM_MISSING = (
    "litellm is not installed: the integration tests need a real LiteLLM proxy "
    "(pip install 'litellm[proxy]', or the project's 'test' extra)"
)


def litellm_available() -> bool:
    return importlib.util.find_spec("litellm") is not None and litellm_executable() is not None


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """A LiteLLM proxy on 127.0.0.1 serving ``standard_models()``, stopped at the end of the session."""
    if not litellm_available():
        pytest.skip(LITELLM_MISSING)
    proxy = start_proxy(tmp_path_factory.mktemp("litellm-proxy"), standard_models())
    try:
        yield proxy
    finally:
        proxy.stop()
