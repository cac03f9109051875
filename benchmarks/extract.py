"""Benchmark feature extraction on the real data (2 CPU cores, no GPU).

1. MiniLM text embeddings of the IEMOCAP, MELD and MOSI transcripts into a fresh feature store
   -> text_utt_per_s (model load included).
2. eGeMAPS (openSMILE) of the 480 RAVDESS files -> audio_files_per_s.
3. A second run in a new process (`affectrl extract iemocap6 meld7 mosi`, interpreter start,
   dataset loading and store loading included) -> cache_hit_s; it must say "cache hit".
4. Cached IEMOCAP vectors vs a direct SentenceTransformer.encode of the same sentences -> the
   minimum cosine over all 7433 utterances (target >= 0.999).

Usage: python benchmarks/extract.py [--seeds N] [--threads 2] [--cache DIR]
Last line: one JSON object (text_utt_per_s, audio_files_per_s, cache_hit_s, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's affectrl
from affectrl.data import load_dataset  # noqa: E402
from affectrl.features import FeatureStore, extract_modality  # noqa: E402

TEXT_DATASETS = ["iemocap6", "meld7", "mosi"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=1, help="accepted for uniformity; extraction is deterministic"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--cache", help="feature cache to fill (default: a fresh temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path(args.cache or tempfile.mkdtemp(prefix="affectrl-bench-extract-"))
    os.environ["AFFECTRL_CACHE"] = str(cache)
    store = FeatureStore(cache / "features")
    print(f"cache: {cache}; torch threads: {args.threads}; seeds: {args.seeds} (deterministic)")

    text_utts, text_seconds, results = 0, 0.0, {}
    for name in TEXT_DATASETS:
        ds = load_dataset(name)
        res = extract_modality(ds, "text", "minilm", store=store, progress=False)
        assert res.computed == len(res.ids), f"{name}: expected a fresh extraction"
        text_utts += res.computed
        text_seconds += res.seconds
        results[name] = res
        print(
            f"text  {name:9s} {res.computed:6d} utt  {res.seconds:7.1f} s  "
            f"{res.computed / res.seconds:6.1f} utt/s  -> {res.folder}"
        )
    text_rate = text_utts / text_seconds

    ravdess = load_dataset("ravdess")
    audio = extract_modality(ravdess, "audio", "egemaps", store=store, progress=False)
    assert audio.features.shape == (480, 88) and np.isfinite(audio.features).all()
    audio_rate = audio.computed / audio.seconds
    print(
        f"audio ravdess   {audio.computed:6d} files {audio.seconds:6.1f} s  "
        f"{audio_rate:6.1f} files/s -> {audio.folder}"
    )

    cmd = [sys.executable, "-m", "affectrl", "extract", *TEXT_DATASETS, "--no-progress"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cache_hit_s = time.perf_counter() - start
    hits = out.count("cache hit")
    print(
        f"second run (new process, {' '.join(cmd[2:])}): {cache_hit_s:.2f} s, "
        f"{hits}/{len(TEXT_DATASETS)} cache hits"
    )
    assert hits == len(TEXT_DATASETS), out

    from affectrl.features.text import load_sentence_model, packaged_minilm_path

    iemocap = load_dataset("iemocap6")
    sentences = [t for d in iemocap.dialogues() for t in d.texts]
    model = load_sentence_model(str(packaged_minilm_path()))
    direct = model.encode(sentences, batch_size=64, convert_to_numpy=True)
    cached = results["iemocap6"].features
    cosine = (cached * direct).sum(1) / (
        np.linalg.norm(cached, axis=1) * np.linalg.norm(direct, axis=1)
    )
    print(f"IEMOCAP cached vs direct encode: min cosine {cosine.min():.6f} over {len(cosine)}")

    summary = {
        "text_utt_per_s": round(text_rate, 1),
        "text_utterances": text_utts,
        "audio_files_per_s": round(audio_rate, 2),
        "audio_files": audio.computed,
        "cache_hit_s": round(cache_hit_s, 2),
        "cache_hits": hits,
        "iemocap_min_cosine": round(float(cosine.min()), 6),
        "threads": args.threads,
        "seeds": args.seeds,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
