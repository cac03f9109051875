"""Issue #5 benchmark: the RL fusion agent against non-RL fusion on CMU-MOSI's noise grid.

Per seed: train (resumably, under the standard noise curriculum) the agent's backbone — whose
dev-tuned fixed weights are the "fixed" baseline — and attention and gated fusion models; fit
the label-free quality estimator on clean training features; train the agent by PPO and the
gradient gate on the same state; evaluate every method on every `mosi-standard` cell of the test
split. Ablations: no quality channels in the state, reward settings, no curriculum ramp, SB3 PPO
on the Gymnasium environment; the policy with a drop head (method rl_drop); last, the optional
third stage, joint fine-tuning of the backbone under the trained policy (method rl_joint; under
the drop-head policy, rl_drop_joint).
Results are written after every seed to OUT/results.json and the per-cell table to
OUT/grid_cells.csv; the last line printed is one JSON object.

    python benchmarks/fusion_agent.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

# One BLAS/OpenMP thread: these models are small, and on a loaded 2-core machine extra threads
# spin against each other (the quality fit took 310 s with them, 48 s without).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectrl.agents.fusion.baselines import (  # noqa: E402
    ablations,
    equal_weights,
    oracle_weights,
    overhead_ratio,
    padded_logits,
    weighted_predictor,
)
from affectrl.agents.fusion.env import FusionEnv, sb3_decider, train_sb3  # noqa: E402
from affectrl.agents.fusion.quality import QualityEstimator  # noqa: E402
from affectrl.agents.fusion.trainer import (  # noqa: E402
    AgentTrainConfig,
    fine_tune_jointly,
    train_fusion_agent,
    train_gradient_gate,
)
from affectrl.config import apply_overrides, load_config  # noqa: E402
from affectrl.io import atomic_write, write_json  # noqa: E402
from affectrl.noise.grid import run_grid  # noqa: E402
from affectrl.train import resolve_config  # noqa: E402
from affectrl.train.data import Batches  # noqa: E402
from affectrl.train.run_folder import train_run  # noqa: E402

CONFIGS = {
    "backbone": "configs/mosi_agent_curriculum.yaml",
    "attention": "configs/mosi_attention_curriculum.yaml",
    "gated": "configs/mosi_gated_curriculum.yaml",
}
GRID = "mosi-standard"


def trained(config: str, seed: int, out: Path, overrides: list[str]):
    """Train (or resume / reuse) one run of `config` with `overrides` (key=value) applied;
    returns (dataset, model with its selected weights, splits)."""
    cfg = resolve_config(apply_overrides(load_config(ROOT / config), overrides), seed)
    cfg["train"]["threads"] = 1
    run = train_run(cfg, out / cfg["name"] / f"seed-{seed}")
    return run.dataset, run.model, run.splits


def grid(model, ds, seed, transform, predict=None) -> pd.DataFrame:
    """The test split on every cell of GRID: each cell corrupted (on the dataset's own scale,
    seeded by `seed`), then passed through the model's input `transform`, as in `affectrl eval`."""
    predict = predict or (lambda b: padded_logits(model, b))
    return run_grid(lambda b: predict(transform(b)), ds, "test", GRID, seed, progress=False)


def run_seed(seed: int, args, out: Path, quality: QualityEstimator) -> tuple[dict, pd.DataFrame]:
    ds, model, splits = trained(CONFIGS["backbone"], seed, out, args.override)
    transform = splits["train"].transform
    stats = splits["train"].noise_stats()  # the curriculum's noise scale, as in training
    fusion = model.fusion
    fusion.use_quality(quality)
    base = fusion.fixed_weights.clone()
    cfg = AgentTrainConfig(
        iterations=args.iterations, joint_iterations=args.joint_iterations, seed=seed
    )
    grids = {
        "fixed": grid(model, ds, seed, transform),
        "equal": grid(model, ds, seed, transform, weighted_predictor(model, equal_weights)),
        "oracle": grid(
            model, ds, seed, transform, weighted_predictor(model, lambda b: oracle_weights(b, base))
        ),
    }
    for name in ("attention", "gated"):
        _, other, other_splits = trained(CONFIGS[name], seed, out, args.override)
        grids[name] = grid(other, ds, seed, other_splits["train"].transform)
    start = time.perf_counter()
    history = train_fusion_agent(model, splits["train"], stats, cfg, progress=False)
    agent_seconds = time.perf_counter() - start
    grids["rl"] = grid(model, ds, seed, transform)
    policy_state = {k: v.clone() for k, v in fusion.policy.state_dict().items()}
    test = splits["test"]
    overhead = overhead_ratio(model, test.in_order())  # batches of train.batch_size videos
    whole = Batches(ds, "test", test.modalities, len(test.dialogues), test.transform)
    overhead_one_batch = overhead_ratio(model, whole.in_order())  # the test split at once
    train_gradient_gate(model, splits["train"], stats, cfg, progress=False)
    grids["gradient_gate"] = grid(model, ds, seed, transform)
    # Ablations of the agent (each retrains the policy from scratch on the same backbone).
    variants = {} if seed > args.ablation_seeds else ablations(cfg)
    for name, ablation in variants.items():
        fusion.policy.reset_parameters()
        train_fusion_agent(model, splits["train"], stats, ablation, progress=False)
        grids[name] = grid(model, ds, seed, transform)
    if variants:  # the state's reliability signals (default "fast")
        for signals in ("full", "confidence"):
            fusion.configure_state(signals)
            train_fusion_agent(model, splits["train"], stats, cfg, progress=False)
            grids[f"rl_signals_{signals}"] = grid(model, ds, seed, transform)
        fusion.configure_state("fast")
        fusion.policy.load_state_dict(policy_state)
    if args.sb3_steps and seed <= args.ablation_seeds:
        env = FusionEnv(model, splits["train"], stats, seed=seed)
        agent = train_sb3(env, args.sb3_steps, seed)
        sb3 = weighted_predictor(model, sb3_decider(fusion, agent))
        grids["sb3"] = grid(model, ds, seed, transform, sb3)
    # The policy with a drop head (a keep/drop decision per modality besides its weights).
    fusion.configure_state("fast", drop=True)
    train_fusion_agent(model, splits["train"], stats, cfg, progress=False)
    grids["rl_drop"] = grid(model, ds, seed, transform)
    # Stage 3, joint fine-tuning of the backbone under each trained policy: last, because it
    # changes the backbone that every method above shares (restored in between).
    backbone_state = {
        k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fusion.policy.")
    }
    fine_tune_jointly(model, splits["train"], stats, cfg, progress=False)
    grids["rl_drop_joint"] = grid(model, ds, seed, transform)
    fusion.configure_state("fast", drop=False)
    model.load_state_dict(backbone_state, strict=False)  # all but the policy, loaded next
    fusion.policy.load_state_dict(policy_state)
    fine_tune_jointly(model, splits["train"], stats, cfg, progress=False)
    grids["rl_joint"] = grid(model, ds, seed, transform)
    cells = pd.concat([g.assign(method=k) for k, g in grids.items()], ignore_index=True)
    summary = {
        k: {
            "grid_acc": float(g["accuracy"].mean()),
            "clean_acc": float(g.loc[g["cell"] == "clean", "accuracy"].iloc[0]),
        }
        for k, g in grids.items()
    }
    summary["agent_overhead_ratio"] = overhead
    summary["agent_overhead_ratio_one_batch"] = overhead_one_batch
    summary["agent_train_s"] = agent_seconds
    summary["agent_final_reward"] = float(np.mean([h["reward"] for h in history[-20:]]))
    return summary, cells


def headroom(cells: pd.DataFrame, target: float) -> dict:
    """How far the grid target lies from anything measured. Per cell (mean over seeds, methods
    run on every seed): the best accuracy of any method (the envelope, its grid mean and its
    mean over the cells that corrupt text), and the mean accuracy the text cells would need for
    the grid to reach `target` (%) even if every other cell reached the best clean accuracy of
    any method."""
    every_seed = cells.groupby("method")["seed"].transform("nunique") == cells["seed"].nunique()
    per_cell = cells[every_seed].groupby(["cell", "method"])["accuracy"].mean().unstack() * 100
    envelope = per_cell.max(axis=1)
    modalities = cells.drop_duplicates("cell").set_index("cell")["modalities"]
    text = modalities.reindex(per_cell.index).fillna("").str.contains("text").to_numpy()
    best_clean = per_cell.loc["clean"].max()
    needed = (target * len(per_cell) - best_clean * (~text).sum()) / text.sum()
    return {
        "grid_acc_envelope": envelope.mean(),
        "text_cells_acc_envelope": envelope[text].mean(),
        "text_cells_acc_needed": needed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    parser.add_argument(
        "--iterations", type=int, default=200, help="PPO / gate updates (default 200)"
    )
    parser.add_argument(
        "--joint-iterations",
        type=int,
        default=50,
        help="stage-3 joint fine-tuning batches of methods rl_joint, rl_drop_joint (default 50)",
    )
    parser.add_argument(
        "--sb3-steps", type=int, default=10_000, help="SB3 PPO timesteps (0: skip; default 10000)"
    )
    parser.add_argument(
        "--ablation-seeds", type=int, default=2, help="seeds 1..K also run ablations and SB3"
    )
    parser.add_argument(
        "--out",
        default="runs/bench_fusion_agent",
        help="results folder; a rerun resumes it (finished seeds and models are reused)",
    )
    parser.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every model (backbone, attention, gated), e.g. the earlier "
        "recipe: standardize=false train.epochs=40 train.select=dev",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = ROOT / args.out
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    tables = []
    quality = None
    for seed in range(1, args.seeds + 1):
        cells_path = out / f"grid_cells_seed{seed}.csv"
        if str(seed) in results and cells_path.is_file():
            tables.append(pd.read_csv(cells_path))
            continue
        if quality is None:  # fitted on clean training features: the same for every seed
            ds, _, splits = trained(CONFIGS["backbone"], seed, out, args.override)
            quality = QualityEstimator.fit(ds, transform=splits["train"].transform)
        summary, cells = run_seed(seed, args, out, quality)
        atomic_write(cells_path, lambda p, c=cells: c.to_csv(p, index=False))
        results[str(seed)] = summary
        write_json(results_path, results)
        tables.append(cells)
        print(
            f"seed {seed}: "
            + json.dumps({k: v["grid_acc"] for k, v in summary.items() if isinstance(v, dict)}),
            flush=True,
        )
    cells = pd.concat(tables, ignore_index=True)
    atomic_write(out / "grid_cells.csv", lambda p: cells.to_csv(p, index=False))
    per_method = cells.groupby(["method", "seed"])["accuracy"].mean().groupby("method")
    grid_mean, grid_std = per_method.mean() * 100, per_method.std() * 100
    clean = cells[cells["cell"] == "clean"].groupby("method")["accuracy"].mean() * 100
    print("\nmethod                      grid acc (mean ± std over seeds)   clean acc")
    for method in grid_mean.sort_values(ascending=False).index:
        print(
            f"{method:28s} {grid_mean[method]:6.2f} ± {grid_std[method]:4.2f}"
            f"                    {clean[method]:6.2f}"
        )
    baselines = ["fixed", "attention", "gated"]
    best = max(baselines, key=lambda m: grid_mean[m])
    best_clean = max(baselines, key=lambda m: clean[m])
    final = {
        "seeds": args.seeds,
        "overrides": args.override,
        "grid_acc_rl": grid_mean["rl"],
        "grid_acc_best_baseline": grid_mean[best],
        "best_baseline": best,
        "grid_acc_oracle": grid_mean["oracle"],
        "grid_acc_gradient_gate": grid_mean["gradient_gate"],
        "grid_acc_equal": grid_mean["equal"],
        "clean_acc_rl": clean["rl"],
        "grid_acc_rl_joint": grid_mean["rl_joint"],
        "clean_acc_rl_joint": clean["rl_joint"],
        "grid_acc_rl_drop": grid_mean["rl_drop"],
        "clean_acc_rl_drop": clean["rl_drop"],
        "grid_acc_rl_drop_joint": grid_mean["rl_drop_joint"],
        "clean_acc_rl_drop_joint": clean["rl_drop_joint"],
        "clean_acc_best_baseline": clean[best_clean],
        "agent_overhead_ratio": float(
            np.mean([r["agent_overhead_ratio"] for r in results.values()])
        ),
        "agent_overhead_ratio_one_batch": float(
            np.mean([r["agent_overhead_ratio_one_batch"] for r in results.values()])
        ),
        "sb3_grid_acc": grid_mean.get("sb3", float("nan")),
        "ablations": {m: grid_mean[m] for m in grid_mean.index if m.startswith("rl_")},
        **headroom(cells, grid_mean[best] + 2.0),
    }
    write_json(out / "final.json", final)
    print(json.dumps(final))


if __name__ == "__main__":
    main()
