"""Fixtures of the data tests."""

import pytest


@pytest.fixture(autouse=True)
def own_abandoned_files(monkeypatch):
    """A writer given up after an injected fault marks this process as unable to write
    (store._ABANDONED); each test starts and ends with its own list."""
    monkeypatch.setattr("bc_ros.core.data.store._ABANDONED", [])
