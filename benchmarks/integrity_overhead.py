"""What the integrity checks cost: checksummed tensor files and content fingerprints of media.

    python benchmarks/integrity_overhead.py [--rows 13708] [--dim 384] [--repeats 5]

1. A feature-store cache hit: `--rows` x `--dim` float32 vectors (default: MELD's utterances
   with MiniLM) in 512-row chunks, read back verified (`affectrl.tensorfile.load_tensors`:
   checksum and finiteness) against the same chunks read with plain safetensors (the baseline,
   same run); the figure is the ratio.
2. Writing the same chunks with the checksum against plain safetensors writes.
3. Media fingerprints: SHA-256 of every RAVDESS WAV under the data root (a content hash, so a
   file rewritten with its size and mtime kept is seen) against the size + mtime fingerprint it
   replaced, cold per-process (no memo).

Best of `--repeats`. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.data.root import data_root  # noqa: E402
from affectrl.tensorfile import load_tensors, save_tensors  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=13708)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    chunks = [
        rng.normal(size=(min(512, args.rows - i), args.dim)).astype(np.float32)
        for i in range(0, args.rows, 512)
    ]
    result: dict = {"rows": args.rows, "dim": args.dim, "chunks": len(chunks)}
    with tempfile.TemporaryDirectory() as tmp:
        plain = [Path(tmp) / f"plain-{i}.safetensors" for i in range(len(chunks))]
        checked = [Path(tmp) / f"checked-{i}.safetensors" for i in range(len(chunks))]
        meta = {"ids": "[]", "inputs": "x"}
        pairs = list(enumerate(chunks))
        write_plain = best(
            lambda: [save_file({"features": c}, str(plain[i]), meta) for i, c in pairs],
            args.repeats,
        )
        write_checked = best(
            lambda: [save_tensors(checked[i], {"features": c}, meta) for i, c in pairs],
            args.repeats,
        )
        read_plain = best(lambda: [load_file(str(p)) for p in plain], args.repeats)
        read_checked = best(lambda: [load_tensors(p, "np") for p in checked], args.repeats)
    result.update(
        cache_hit_plain_s=round(read_plain, 4),
        cache_hit_verified_s=round(read_checked, 4),
        cache_hit_ratio=round(read_checked / read_plain, 2),
        write_plain_s=round(write_plain, 4),
        write_checksummed_s=round(write_checked, 4),
        write_ratio=round(write_checked / write_plain, 2),
    )
    print(
        f"cache hit, {args.rows} x {args.dim}: plain {read_plain:.3f} s, verified "
        f"{read_checked:.3f} s (x{read_checked / read_plain:.2f})"
    )
    print(
        f"write: plain {write_plain:.3f} s, checksummed {write_checked:.3f} s "
        f"(x{write_checked / write_plain:.2f})"
    )
    wavs = sorted((data_root() / "ravdess").rglob("*.wav"))
    if wavs:
        stat = best(lambda: [(w.stat().st_size, w.stat().st_mtime_ns) for w in wavs], args.repeats)
        content = best(lambda: [sha256(w) for w in wavs], args.repeats)
        megabytes = sum(w.stat().st_size for w in wavs) / 1e6
        result.update(
            wav_files=len(wavs),
            wav_megabytes=round(megabytes, 1),
            wav_stat_fingerprint_s=round(stat, 4),
            wav_content_fingerprint_s=round(content, 3),
        )
        print(
            f"fingerprints of {len(wavs)} WAVs ({megabytes:.0f} MB): size+mtime {stat:.3f} s, "
            f"SHA-256 {content:.3f} s ({megabytes / content:.0f} MB/s)"
        )
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
