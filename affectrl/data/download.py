"""`affectrl data download`: fetch the public originals named in DATA.md and verify checksums.

Each file is downloaded to a temporary name, its SHA-256 compared with the manifest, then renamed
into place. With no network it fails at the first file with a message saying where to put the
files by hand. RAVDESS is a 200 MB zip of 48 kHz originals: it is fetched, unpacked and the 16 kHz
copies are made by the user's own tools (see docs/DATASETS.md); we only point to it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from ..io import atomic_write, file_sha256

# (path under the data root, public origin, SHA-256 of the copy this project was developed on).
# MOSI's transcripts.csv was assembled from the origin's text files; it has no single origin URL.
MANIFEST: list[tuple[str, str | None, str]] = [
    (
        "iemocap/iemocap_text.pkl",
        "https://raw.githubusercontent.com/declare-lab/conv-emotion/master/COSMIC/feature-extraction/iemocap/iemocap.pkl",
        "85f15be1fbd8678e0dd443a11ac609615f0e990cc0ca1551fdf86f98b9e6067f",
    ),
    (
        "meld/dev_sent_emo.csv",
        "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/dev_sent_emo.csv",
        "2e89c6f8aa182d6f62f8c6331aece905ac7273ca4999660bfb5213e1d0370c1c",
    ),
    (
        "meld/test_sent_emo.csv",
        "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/test_sent_emo.csv",
        "8d37103938f7067600839fe29d5a114a6cd1bcdafb75bec101e06464c5006888",
    ),
    (
        "meld/train_sent_emo.csv",
        "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/train_sent_emo.csv",
        "d2fa2d6529cf03cac2989efec05c9b27d8fd2f4c8fc5974c7ae88aa537fa02db",
    ),
    (
        "mosi/transcripts.csv",
        None,
        "e7689e6d70720addd2a6b316419d245a68839c32b014ff426c406063ee777466",
    ),
    (
        "mosi/text_test.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/text_test.csv",
        "f3b735070bf07ceff7a6ef6c8f4c32757e988de484e35bd6d38b2aecef851a59",
    ),
    (
        "mosi/text_train.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/text_train.csv",
        "73770b6302ad0f7a51f4eddcae6788efde4d0b6802e09f78249d5b538d1c1d67",
    ),
    (
        "mosi/audio/audio_test0.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/audio/audio_test0.csv",
        "ddd17eeefd3d951d51d4e2ef8a0d132652d8161e1886f71eb7262b7a14bffff6",
    ),
    (
        "mosi/audio/audio_train0.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/audio/audio_train0.csv",
        "5435398a54664e7b00304587dc59ae84a438852be033c2a2fba779588624a2a1",
    ),
    (
        "mosi/text/text_test0.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/text/text_test0.csv",
        "a343e22272919d1384c2075dbcdd5fef5aa9f9366b0552a83f7c3147b64b047a",
    ),
    (
        "mosi/text/text_train0.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/text/text_train0.csv",
        "cc327045db6cc361a08b4037b97bb24de4ddb5efb381468c4835cc4a60674668",
    ),
    (
        "mosi/video/video_test0.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/video/video_test0.csv",
        "cab836253d81100f59d533fa2ff65cd53c486be3ec9fd82203c5e25a7a77265f",
    ),
    (
        "mosi/video/video_train0.csv",
        "https://raw.githubusercontent.com/soujanyaporia/multimodal-sentiment-analysis/699dcc5/data/video/video_train0.csv",
        "b6efc0413132d627efd06f67f1706830e775e90af9a75696f535c48dbc73f12f",
    ),
]
RAVDESS_ORIGIN = "https://zenodo.org/record/1188976 (Audio_Speech_Actors_01-24.zip)"


def download_all(root: Path, timeout_s: float = 20.0, verify: bool = True) -> list[str]:
    """Download every manifest file missing under `root`; returns the paths fetched.

    Raises RuntimeError naming the file, its origin and where to place it by hand when the
    network is unreachable or a checksum does not match.
    """
    fetched = []
    for rel, url, expected in MANIFEST:
        target = root / rel
        if target.is_file():
            continue
        if url is None:
            raise RuntimeError(
                f"{rel} has no single public origin; build it as docs/DATASETS.md describes "
                f"and place it at {target}"
            )
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                payload = response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise RuntimeError(
                f"cannot download {url} ({exc}). Offline? Download it elsewhere and place it at "
                f"{target}, or set AFFECTRL_DATA to a folder that has it."
            ) from None
        atomic_write(target, lambda p, data=payload: p.write_bytes(data))
        if verify and file_sha256(target) != expected:
            target.unlink()
            raise RuntimeError(f"{url}: checksum mismatch for {rel}; the file was not kept")
        fetched.append(rel)
    return fetched
