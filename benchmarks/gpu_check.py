"""COGMEN, the graph agent and the fusion agent trained a few epochs on CUDA and on the CPU.

    python benchmarks/gpu_check.py [--epochs 5] [--agent-iterations 50] [--runs-dir DIR]

(or `scripts/gpu-check.sh`, which runs this with the repository's .venv). Each model is trained
with the same seed with train.device=cuda, again with train.device=cuda (same device, same seed:
the numbers must repeat) and with train.device=cpu, in DIR/<device>[-again]/<model>/seed-1.
Prints per model and device the test accuracy / weighted F1, seconds per epoch and the whole
run's wall time, and the CUDA / CPU time ratio; the last line is JSON. Without CUDA it says so
and exits with status 2, training nothing. The MiniLM text features are extracted once (on the
GPU, into the feature store) and read by both devices' runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (name, config file, overrides beyond device and epochs)
MODELS = [
    ("cogmen", "iemocap6_text_cogmen.yaml", []),
    ("graph_agent", "iemocap6_graph_rl_soft.yaml", []),
    ("fusion_agent", "mosi_agent.yaml", ["agent.iterations={iterations}", "agent.plot_grid=quick"]),
]
DEVICES = ("cuda", "cuda-again", "cpu")
SAME = ("test_accuracy", "test_weighted_f1")  # what must repeat on the same device and seed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="supervised epochs (default 5)")
    parser.add_argument("--agent-iterations", type=int, default=50, help="PPO updates (50)")
    parser.add_argument("--runs-dir", default="runs/gpu-check", help="(default runs/gpu-check)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (a CPU-only build)"
        print(
            f"CUDA is not available here: torch {torch.__version__}, CUDA build {build}, "
            f"{torch.cuda.device_count()} GPU(s) visible. This check needs a GPU machine with a "
            "CUDA build of torch; nothing was trained."
        )
        print(json.dumps({"cuda": False, "torch": torch.__version__}))
        return 2

    from affectrl.config import load_config
    from affectrl.train import train_seeds

    root = Path(args.runs_dir)
    results: dict[str, dict] = {}
    for name, config_file, extra in MODELS:
        overrides = [o.format(iterations=args.agent_iterations) for o in extra]
        for device in DEVICES:
            config = load_config(
                REPO / "configs" / config_file,
                [
                    f"name={name}",
                    f"train.device={device.split('-')[0]}",
                    f"train.epochs={args.epochs}",
                    *overrides,
                ],
            )
            run_dir = root / device / name
            shutil.rmtree(run_dir, ignore_errors=True)  # timings of a fresh run, not a reuse
            start = time.perf_counter()
            summary = train_seeds(config, [1], run_dir, progress=False)
            wall = time.perf_counter() - start
            results.setdefault(name, {})[device] = {
                "test_accuracy": summary["test"]["accuracy"]["mean"],
                "test_weighted_f1": summary["test"]["weighted_f1"]["mean"],
                "s_per_epoch": summary["s_per_epoch"]["mean"],
                "wall_s": wall,
            }
            row = results[name][device]
            print(
                f"{name:13s} {device:10s} test acc {100 * row['test_accuracy']:6.2f}  "
                f"wF1 {100 * row['test_weighted_f1']:6.2f}  {row['s_per_epoch']:7.3f} s/epoch  "
                f"{wall:7.1f} s wall",
                flush=True,
            )
    for rows in results.values():
        rows["cuda_repeats"] = all(rows["cuda"][k] == rows["cuda-again"][k] for k in SAME)
        rows["cuda_over_cpu_s_per_epoch"] = rows["cuda"]["s_per_epoch"] / rows["cpu"]["s_per_epoch"]
    gpu = torch.cuda.get_device_name(0)
    print(json.dumps({"cuda": True, "gpu": gpu, "torch": torch.__version__,
                      "epochs": args.epochs, "results": results}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
