"""docs/API.md: every python block runs, in order, in one namespace (so the page cannot rot);
and the public names it documents are the ones `affectrl` exports."""

from __future__ import annotations

import re
from pathlib import Path

import affectrl

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "API.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_api_doc_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write runs/, my_chats/ and files here
    blocks = _python_blocks(API_DOC.read_text())
    assert len(blocks) >= 5
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/API.md python block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "test accuracy" in out and "call-7_0 <-" in out
    table = namespace["table"]  # the last one: the transcript file's two utterances
    assert table["utterance_id"].tolist() == ["d1_0", "d1_1"]
    assert (tmp_path / "runs" / "api_mosi_agent" / "seed-1" / "predictions.csv").is_file()


def test_documented_names_are_exported():
    documented = set(re.findall(r"`affectrl\.(\w+)", API_DOC.read_text()))
    assert documented <= set(affectrl.__all__), documented - set(affectrl.__all__)
    for name in affectrl.__all__:
        assert getattr(affectrl, name) is not None


def test_every_export_is_listed_once():
    assert sorted(affectrl.__all__) == sorted({"__version__", *affectrl._EXPORTS})
