"""Shared fixtures: the real data under ../shared/data and tiny files written per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectrl.data.root import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root (integration tests); fails loudly if ../shared/data is missing."""
    assert SHARED_DATA.is_dir(), f"integration data missing: {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread for the whole suite: on a shared 2-core machine, small models run several
    times faster without threads spinning against each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test session writes caches to a temp folder, never into the repository."""
    monkeypatch.setenv("AFFECTRL_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv(ENV_VAR, str(SHARED_DATA))
