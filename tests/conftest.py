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


def write_byo(folder: Path, dialogues: int = 10, turns: int = 4, dim: int = 6) -> Path:
    """A tiny bring-your-own dataset (train/dev/test: all but 4 / 2 / 2 dialogues of `turns`
    utterances, two classes) with transcripts and `features/text.npy` [N, dim] that separate
    the classes."""
    import numpy as np

    rng = np.random.default_rng(0)
    (folder / "features").mkdir(parents=True, exist_ok=True)
    rows, labels = ["dialogue_id,order,speaker,label,split,text"], []
    for d in range(dialogues):
        split = "train" if d < dialogues - 4 else ("dev" if d < dialogues - 2 else "test")
        for t in range(turns):
            y = (d + t) % 2
            labels.append(y)
            rows.append(f"d{d},{t},{'ab'[t % 2]},{('neg', 'pos')[y]},{split},turn {t} of {d}")
    (folder / "utterances.csv").write_text("\n".join(rows) + "\n")
    x = rng.normal(size=(len(labels), dim)) + np.array(labels)[:, None]
    np.save(folder / "features" / "text.npy", x.astype(np.float32))
    return folder


@pytest.fixture
def tiny_config(tmp_path: Path) -> dict:
    """A config that trains in well under a second on `write_byo`'s dataset."""
    folder = write_byo(tmp_path / "tiny_byo")
    return {
        "name": "tiny_byo",
        "dataset": f"byo:{folder}",
        "model": {"classifier": {"hidden": 8, "dropout": 0.0}},
        "train": {"epochs": 2, "batch_size": 4, "lr": 1.0e-2},
    }


def spoil(path: Path, count: int = 7680, byte: int = 0xFF) -> None:
    """Overwrite up to `count` bytes right after a safetensors header (0xff bytes read as NaN)."""
    import struct

    data = bytearray(path.read_bytes())
    start = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    end = min(len(data), start + count)
    data[start:end] = bytes([byte]) * (end - start)
    path.write_bytes(bytes(data))
