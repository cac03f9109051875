"""Issue #7 benchmark: wall time of the README's main job (`affectrl demo`) end to end.

Runs the demo in a fresh output folder (features already cached are reused; pass
--fresh-cache to time the first run of a new checkout, extraction included) and prints one JSON
object as its last line: main_job_wall_s, report_path.

    python benchmarks/main_job.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="demo seeds 1..N (default 1)")
    parser.add_argument("--out", default="runs/bench_main_job", help="demo output folder")
    parser.add_argument("--fresh-cache", action="store_true", help="time feature extraction too")
    args = parser.parse_args()
    out = ROOT / args.out
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    if args.fresh_cache:
        env["AFFECTRL_CACHE"] = tempfile.mkdtemp(prefix="affectrl-cache-")
    seeds = [str(s) for s in range(1, args.seeds + 1)]
    command = [
        sys.executable,
        "-m",
        "affectrl",
        "demo",
        "--quiet",
        "--runs-dir",
        str(out),
        "--seeds",
        *seeds,
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    wall = time.perf_counter() - start
    report = out / "report" / "report.html"
    if not report.is_file():
        raise SystemExit(f"the demo finished but wrote no report at {report}")
    print(
        json.dumps(
            {
                "main_job_wall_s": round(wall, 1),
                "report_path": str(report),
                "fresh_cache": args.fresh_cache,
                "seeds": args.seeds,
            }
        )
    )


if __name__ == "__main__":
    main()
