"""Data root precedence and the offline behaviour of `data download`."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from affectrl.cli import main
from affectrl.data import root as root_mod
from affectrl.data.download import MANIFEST, download_all


def test_env_var_wins_then_local_data(tmp_path, monkeypatch):
    env_root = tmp_path / "env"
    env_root.mkdir()
    monkeypatch.setenv(root_mod.ENV_VAR, str(env_root))
    assert root_mod.data_root() == env_root.resolve()
    monkeypatch.delenv(root_mod.ENV_VAR)
    work = tmp_path / "proj"
    (work / "data").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert root_mod.data_root() == (work / "data").resolve()


def test_env_var_naming_no_folder_is_an_error_not_a_fallback(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)  # ./data exists, but the variable asks for another folder
    monkeypatch.setenv(root_mod.ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match=r"AFFECTRL_DATA=.*typo is not a folder"):
        root_mod.data_root()
    assert main(["data", "check"]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_no_root_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(root_mod.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="AFFECTRL_DATA"):
        root_mod.data_root()


def test_download_offline_fails_fast_with_where_to_put(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"Offline\? .*place it at .*iemocap_text.pkl"):
        download_all(tmp_path)
    assert time.perf_counter() - start < 2
    monkeypatch.setenv(root_mod.ENV_VAR, str(tmp_path))
    assert main(["data", "download"]) == 1
    assert "Offline?" in capsys.readouterr().err


def test_download_verifies_checksum(tmp_path, monkeypatch):
    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"not the real file"

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Response())
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        download_all(tmp_path)
    assert not (tmp_path / MANIFEST[0][0]).exists()
