"""The allocator settings of affectrl/train/allocator.py: applied on glibc, the user's win."""

from __future__ import annotations

import platform

import pytest

from affectrl.train import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_settings(monkeypatch):
    for name in [n for n in allocator.os.environ if n.startswith("MALLOC_")]:
        monkeypatch.delenv(name)
    assert allocator.keep_freed_memory()


def test_a_users_malloc_variable_leaves_the_allocator_alone(monkeypatch):
    calls = []
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda *a: calls.append(a))
    assert not allocator.keep_freed_memory()
    assert not calls
