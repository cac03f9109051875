"""Issue #7 / #22 benchmark: the README's main job (`make demo`) from a fresh clone.

With --fresh-clone (the acceptance setting): clone this repository into a temporary folder,
time `make venv` there (the environment build, `venv_build_s`), then time the demo itself
(`demo_wall_s`: features extracted into the clone's empty cache, every run trained, the grids,
the report). Without it: the demo in this checkout into a fresh output folder (features already
cached are reused unless --fresh-cache), and venv_build_s is null. Prints one JSON object as its
last line: demo_wall_s, demo_cpu_s (all its processes), venv_build_s, report_path, the load
average before and after, and per comparison of configs/demo.yaml the demo's and the full
benchmark's figures.

    python benchmarks/main_job.py --fresh-clone [--clone-into DIR --keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and everything it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="demo seeds 1..N (default 1)")
    parser.add_argument("--out", default="runs/bench_main_job", help="demo output folder")
    parser.add_argument("--fresh-clone", action="store_true", help="clone, build .venv, run")
    parser.add_argument("--fresh-cache", action="store_true", help="time feature extraction too")
    parser.add_argument(
        "--clone-into", help="the fresh clone's folder (must not exist; default: a temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the fresh clone")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from affectrl.data.root import ENV_VAR, data_root

    env = dict(os.environ)
    env[ENV_VAR] = str(data_root().resolve())  # the clone lives elsewhere: name the data
    load_before = os.getloadavg()
    venv_build = None
    if args.fresh_clone:
        if args.clone_into:
            checkout = Path(args.clone_into).resolve()
            if checkout.exists():
                raise SystemExit(f"--clone-into {checkout}: exists; name a new folder")
        else:
            checkout = Path(tempfile.mkdtemp(prefix="affectrl-main-job-")) / "affectrl"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
        env.pop("AFFECTRL_CACHE", None)  # the clone's own, empty ./.cache
        venv_build, _ = _timed(["make", "venv"], checkout, env)
        python = checkout / ".venv" / "bin" / "python"
    else:
        checkout, python = ROOT, Path(sys.executable)
        if args.fresh_cache:
            env["AFFECTRL_CACHE"] = tempfile.mkdtemp(prefix="affectrl-cache-")
    out = checkout / args.out
    shutil.rmtree(out, ignore_errors=True)
    seeds = [str(s) for s in range(1, args.seeds + 1)]
    command = [str(python), "-m", "affectrl", "demo", "--runs-dir", str(out), "--seeds", *seeds]
    wall, cpu = _timed(command, checkout, env)
    demo = json.loads((out / "demo.json").read_text())
    report = out / "report" / "report.html"
    if not report.is_file():
        raise SystemExit(f"the demo finished but wrote no report at {report}")
    if args.fresh_clone and args.keep:
        print(f"fresh clone kept: {checkout}")
    comparisons = {
        c["agent"]: {
            "metric": c["metric"],
            "baseline": c["best_baseline"],
            "full_baseline": c["full_best_baseline"],
            "demo": {k: round(v["demo"], 2) for k, v in c["runs"].items()},
            "full": {k: v["full"] for k, v in c["runs"].items()},
            "demo_diff": round(c["demo_diff"], 2),
            "full_diff": None if c["full_diff"] is None else round(c["full_diff"], 2),
            "agrees": c["agrees"],
        }
        for c in demo["comparisons"]
    }
    print(
        json.dumps(
            {
                "demo_wall_s": round(wall, 1),
                "demo_cpu_s": round(cpu, 1),  # under load, what the wall time would need alone
                "venv_build_s": None if venv_build is None else round(venv_build, 1),
                "report_path": str(report),
                "fresh_clone": args.fresh_clone,
                "seeds": args.seeds,
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
                "comparisons": comparisons,
            }
        )
    )
    if args.fresh_clone and not args.keep:
        shutil.rmtree(checkout if args.clone_into else checkout.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
