"""Robustness benchmark (issue 4): the MOSI `mosi-standard` grid, label-free quality estimates
and the RAVDESS raw-audio path.

1. MOSI: the baselines' bc-LSTM concatenation model (configs/mosi_bclstm_concat.yaml: z-scored
   text+audio+visual concatenated -> BiLSTM over each video -> classifier, 3 epochs) trained
   per seed on the clean training split, evaluated on every cell of `mosi-standard` -> table,
   CSV/JSON and the robustness plot.
2. Quality: per modality, Spearman between the `degradation` channel and the true per-utterance
   severity over the clean, Gaussian and missing cells; ROC AUC of the cross-modal disagreement
   channels for detecting the substituted utterances (positives) among the clean cell's and the
   substitution cells' other utterances.
3. RAVDESS: eGeMAPS (88 functionals) + standardised logistic regression, trained on clean
   actors 1-12, tested on actors 13-16 clean and with raw white noise at 20, 10, 0 dB (and babble
   at 0 dB from the training actors' speech) added before extraction.

Run from the repository root: `python benchmarks/robustness.py --seeds 5`. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's affectrl

from affectrl.agents.fusion.quality import QUALITY_CHANNELS, QualityEstimator  # noqa: E402
from affectrl.config import load_config  # noqa: E402
from affectrl.data import DialogueBatch, DialogueDataset, load_dataset  # noqa: E402
from affectrl.features import extract_items  # noqa: E402
from affectrl.noise import build  # noqa: E402
from affectrl.noise.audio import estimate_snr_db  # noqa: E402
from affectrl.noise.feature import FeatureStats, kind_code  # noqa: E402
from affectrl.noise.grid import (  # noqa: E402
    corrupted_batches,
    format_table,
    run_grid,
    split_batches,
    summarise,
    write_grid,
)
from affectrl.noise.protocols import get_grid  # noqa: E402
from affectrl.train import resolve_config  # noqa: E402
from affectrl.train.run_folder import train_run  # noqa: E402

DISAGREEMENT_CHANNELS = ("mismatch", "context_deviation", "head_disagreement")
HEADLINE_DISAGREEMENT = "mismatch"


def bclstm_concat(seed: int, run_root: Path):
    """Train (or reuse) the baselines' bc-LSTM concatenation model (configs/mosi_bclstm_concat.yaml)
    for one seed; returns predict(batch) -> logits [N, C] on raw-unit (corrupted) batches (the
    run standardises them as in training)."""
    config = resolve_config(load_config(REPO / "configs" / "mosi_bclstm_concat.yaml"), seed)
    return train_run(config, run_root / f"seed-{seed}").logits


def unimodal_heads(ds: DialogueDataset, stats: FeatureStats):
    """Per modality a logistic regression on its standardised features (clean train split);
    returns batch -> {modality: probabilities [B, T, C]} for the head channels."""
    (train,) = split_batches(ds, "train")
    heads = {}
    for i, m in enumerate(train.modalities):
        keep = train.modality_mask[..., i] & train.utterance_mask
        x = stats.standardise(m, train.features[m])[keep].numpy()
        heads[m] = LogisticRegression(max_iter=2000).fit(x, train.labels[keep].numpy())

    def probs(batch: DialogueBatch) -> dict[str, torch.Tensor]:
        out = {}
        for m, head in heads.items():
            z = stats.standardise(m, batch.features[m]).flatten(0, 1).numpy()
            p = torch.from_numpy(head.predict_proba(z)).float()
            out[m] = p.view(*batch.features[m].shape[:2], -1)
        return out

    return probs


def quality_scores(ds, estimator, heads, seed: int) -> dict[str, float]:
    """Spearman (degradation vs severity) and substitution AUCs per modality for one seed."""
    grid = get_grid("mosi-standard")
    batches = split_batches(ds, "test")
    ch = {name: k for k, name in enumerate(QUALITY_CHANNELS)}
    per_cell = {}
    for cell, (b,) in corrupted_batches(batches, grid, seed, estimator.stats):
        per_cell[cell.name] = (cell, b, estimator(b, head_probs=heads(b)))
    out = {}
    for i, m in enumerate(ds.modalities):
        sev, deg, y, scores = [], [], [], {c: [] for c in DISAGREEMENT_CHANNELS}
        for cell, b, q in per_cell.values():
            real = b.utterance_mask
            own = cell.modalities == (m,)
            if cell.corruption == "clean" or (own and cell.corruption in ("gaussian", "missing")):
                sev.append(b.corruption["severity"][..., i][real])
                deg.append(q[..., i, ch["degradation"]][real])
            if cell.corruption == "clean" or (own and cell.corruption == "substitute"):
                y.append(b.corruption["kind"][..., i][real] == kind_code("substitute"))
                for c in DISAGREEMENT_CHANNELS:
                    scores[c].append(q[..., i, ch[c]][real])
        out[f"spearman_{m}"] = float(spearmanr(torch.cat(sev), torch.cat(deg)).statistic)
        labels = torch.cat(y).numpy()
        for c in DISAGREEMENT_CHANNELS:
            out[f"auc_{c}_{m}"] = float(roc_auc_score(labels, torch.cat(scores[c]).numpy()))
    return out


def mosi_part(args, out_dir: Path) -> dict[str, float]:
    ds = load_dataset("mosi")
    stats = FeatureStats.from_dataset(ds)
    estimator = QualityEstimator.fit(ds)
    heads = unimodal_heads(ds, stats)
    grids, quality = [], []
    for seed in range(args.seeds):
        model = bclstm_concat(seed, Path(args.out) / "bclstm_concat")
        torch.set_num_threads(1)  # Run.build sets the config's threads
        grids.append(run_grid(model, ds, "test", "mosi-standard", seed, stats=stats))
        quality.append(quality_scores(ds, estimator, heads, seed))
        clean = grids[-1].query("cell == 'clean'")["accuracy"].iloc[0]
        grid_mean = grids[-1]["accuracy"].mean()
        print(f"seed {seed}: clean {100 * clean:.2f}  grid mean {100 * grid_mean:.2f}")
    results = pd.concat(grids, ignore_index=True)
    write_grid(results, out_dir, "mosi_concat")
    if args.plot:
        from affectrl.noise.grid import plot_grid

        plot_grid(results, args.plot)
    print(
        "\nMOSI bc-LSTM concat baseline on mosi-standard (test, accuracy %, mean ± std over seeds)"
    )
    print(format_table(results))
    q = pd.DataFrame(quality)
    print("\nquality estimates (mean ± std over seeds)")
    for col in q.columns:
        print(f"  {col:36s} {q[col].mean():.3f} ± {q[col].std(ddof=0):.3f}")
    summary = summarise(results)
    per_seed = results.groupby("seed")["accuracy"].mean()
    mods = ds.modalities
    return {
        "mosi_concat_clean_acc": float(summary.query("cell == 'clean'")["accuracy_mean"].iloc[0]),
        "mosi_concat_grid_acc_mean": float(per_seed.mean()),
        "mosi_concat_grid_acc_std": float(per_seed.std(ddof=0)),
        "quality_spearman_min": float(min(q[f"spearman_{m}"].mean() for m in mods)),
        "substitution_auc_min": float(
            min(q[f"auc_{HEADLINE_DISAGREEMENT}_{m}"].mean() for m in mods)
        ),
    } | {k: float(v) for k, v in q.mean().items()}


def ravdess_part(args) -> dict[str, float]:
    ds = load_dataset("ravdess")

    def rows(split):
        ids = [u for d in ds.splits[split] for u in d.utterance_ids]
        paths = [p for d in ds.splits[split] for p in d.media["audio"]]
        labels = np.concatenate([d.labels for d in ds.splits[split]])
        return ids, paths, labels

    def features(ids, paths, transform=None):
        return extract_items("ravdess", "egemaps", ids, paths, modality="audio",
                             transform=transform, progress=False).features  # fmt: skip

    train_ids, train_paths, y_train = rows("train")
    test_ids, test_paths, y_test = rows("test")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    clf.fit(features(train_ids, train_paths), y_train)
    out = {"ravdess_acc_clean": float(clf.score(features(test_ids, test_paths), y_test))}
    print("\nRAVDESS eGeMAPS + logistic regression (train actors 1-12, test 13-16)")
    print(f"  clean                 {100 * out['ravdess_acc_clean']:.2f}")
    conditions = [("white", snr) for snr in (20, 10, 0)] + [("babble", 0)]
    for kind, snr in conditions:
        accs, est = [], []
        for seed in range(args.seeds):
            spec = {"name": "gaussian", "level": "raw", "snr_db": snr, "seed": seed}
            if kind == "babble":
                spec |= {"name": "babble", "pool": train_paths, "talkers": 4}
            noise = build(spec)
            accs.append(clf.score(features(test_ids, test_paths, noise), y_test))
            est += [estimate_snr_db(noise(*_read(p)), _read(p)[1]) for p in test_paths[::10]]
        key = f"ravdess_acc_{snr}db" if kind == "white" else f"ravdess_acc_babble_{snr}db"
        out[key] = float(np.mean(accs))
        out[key.replace("acc", "snr_est")] = float(np.mean(est))
        print(f"  {kind:6s} {snr:3d} dB          {100 * np.mean(accs):.2f} ± "
              f"{100 * np.std(accs):.2f}   (blind SNR estimate {np.mean(est):.1f} dB)")  # fmt: skip
    return out


def _read(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wave, sr = sf.read(path, dtype="float32")
    return wave, sr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds (models and noise draws)")
    parser.add_argument("--out", default="runs/robustness", help="folder for CSV/JSON/plot")
    parser.add_argument("--plot", default=None, help="also write the MOSI plot here (e.g. docs/)")
    parser.add_argument("--skip-ravdess", action="store_true", help="MOSI part only")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small models: one thread is fastest on the shared 2 cores
    started = time.time()
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"{now} UTC, {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, seeds {args.seeds}")  # fmt: skip
    result = mosi_part(args, Path(args.out))
    if not args.skip_ravdess:
        result |= ravdess_part(args)
    result["seeds"] = args.seeds
    result["seconds"] = round(time.time() - started, 1)
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
