"""`affectrl extract` on a tiny bring-your-own dataset: extraction, then a cache hit."""

from __future__ import annotations

from affectrl.cli import main

TABLE = """dialogue_id,order,speaker,label,split,text
d1,0,A,happy,train,I am so glad you came.
d1,1,B,sad,train,I miss the old days.
d2,0,A,happy,test,What a wonderful surprise!
"""


def test_extract_then_cache_hit(tmp_path, capsys):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "utterances.csv").write_text(TABLE)
    args = ["extract", f"byo:{tmp_path / 'toy'}", "--batch-size", "2", "--no-progress"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "toy: 3 utterances x 384 dims (text, minilm)" in first
    assert "features: " in first and "/features/toy/minilm-" in first
    assert "utterances/s" in first and "cache hit" not in first
    assert main(args) == 0
    assert "cache hit: loaded 3 vectors" in capsys.readouterr().out


def test_extract_errors_are_clear(tmp_path, capsys):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "utterances.csv").write_text(TABLE)
    assert main(["extract", f"byo:{tmp_path / 'toy'}", "--modality", "visual"]) == 1
    assert "--encoder is required for visual" in capsys.readouterr().err
    assert main(["extract", f"byo:{tmp_path / 'toy'}", "--encoder", "bert"]) == 1
    assert "unknown encoder 'bert' for text" in capsys.readouterr().err
    assert main(["extract", f"byo:{tmp_path / 'toy'}", "--modality", "audio"]) == 1
    assert "has no audio media files" in capsys.readouterr().err
