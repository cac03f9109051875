"""`affectrl extract` on a tiny bring-your-own dataset: extraction, then a cache hit."""

from __future__ import annotations

import pytest

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


def test_a_misspelt_modality_in_a_config_names_the_known_ones(tmp_path):
    from affectrl.data.registry import load_dataset
    from affectrl.train.data import attach_configured_features

    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "utterances.csv").write_text(TABLE)
    ds = load_dataset(f"byo:{tmp_path / 'toy'}")
    with pytest.raises(ValueError, match="unknown modality 'txt'; known: text, audio, visual"):
        attach_configured_features(ds, {"txt": "minilm"})


def test_extract_imports_only_its_own_command_module():
    """A cache hit must stay fast: `affectrl extract` imports neither the training stack nor
    torch (1-5 s of CPU between them) before it knows it has to encode something."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from affectrl.cli import build_parser\n"
        "p = build_parser('extract')\n"
        "print(sorted(m for m in sys.modules if m.startswith('affectrl.commands.')))\n"
        "print('torch' in sys.modules, 'torch_geometric' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["['affectrl.commands.extract_cmd']", "False False"]
