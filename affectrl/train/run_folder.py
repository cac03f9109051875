"""Run folders: their files, finding them, loading a finished one, and what is computed from one.

The one place a run folder (runs/<name>/seed-<k>/, written by `affectrl.train.trainer.Run`) is
read back: `affectrl eval`, `affectrl graph-explain`, the demo, the report and every benchmark
go through this module. A cross-validated seed (`train.cv`, `affectrl.train.cv`) holds one run
folder per fold (seed-<k>/fold-<f>/) and their pooled config.yaml, metrics.json and
predictions.json: it is finished when every fold is, `evaluate_run` and `grid_run` pool its
folds, and `finished_runs` lists the seed, not its folds.

    config.yaml          the resolved config, seed included            (`read_config`)
    model.safetensors    the weights chosen on dev                     (`load_run`)
    metrics.json         dev and test metrics, history (= run done)    (`read_metrics`)
    predictions.json     per split: utterance ids, gold and predicted  (`read_predictions`)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from ..io import write_json
from ..paths import PathEscapeError, inside, is_inside

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from ..data.batch import DialogueBatch
    from ..data.types import DialogueDataset
    from .data import Batches

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
METRICS = "metrics.json"
PREDICTIONS = "predictions.json"
SEED_PREFIX = "seed-"
FOLD_PREFIX = "fold-"


class LoadedRun(NamedTuple):
    """A finished run ready to predict: its dataset, its model (the weights chosen on dev, eval
    mode, a trained agent deciding), its splits (`Batches` with the run's input transform), its
    config and its folder."""

    dataset: DialogueDataset
    model: torch.nn.Module
    splits: dict[str, Batches]
    config: dict[str, Any]
    run_dir: Path

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def logits(self, batch: DialogueBatch) -> torch.Tensor:
        """Logits [N, C] of a batch in the data's own units (e.g. corrupted by a noise grid):
        the run's input transform (its standardisation, if any) first, as in training, then
        the model's device."""
        from ..device import module_device

        batch = self.splits["train"].transform(batch).to(module_device(self.model))
        return self.model(batch).logits


def seed_dirs(run_dir: str | Path) -> list[Path]:
    """The seed folders of a run: run_dir itself when it holds config.yaml, else its seed-*/."""
    run_dir = Path(run_dir)
    if (run_dir / CONFIG).is_file():
        return [run_dir]
    found = sorted(p for p in run_dir.glob(f"{SEED_PREFIX}*") if (p / CONFIG).is_file())
    if not found:
        raise FileNotFoundError(f"{run_dir}: no {CONFIG} here nor in {SEED_PREFIX}*/ folders")
    return found


def cv_fold_dirs(seed_dir: str | Path) -> list[Path] | None:
    """The fold folders of a cross-validated seed folder, in fold order; None for one run."""
    from .cv import cv_settings, fold_dirs

    config = read_config(seed_dir)
    cv = cv_settings(config)
    return fold_dirs(Path(seed_dir), config) if cv and cv["fold"] is None else None


def is_finished(seed_dir: str | Path) -> bool:
    """Whether a seed folder holds chosen weights (of every fold, when cross-validated)."""
    return all((d / WEIGHTS).is_file() for d in cv_fold_dirs(seed_dir) or [Path(seed_dir)])


def finished_seed_dirs(run_dir: str | Path) -> list[Path]:
    """The seed folders of a run that hold trained weights; an error when there are none."""
    finished = [d for d in seed_dirs(run_dir) if is_finished(d)]
    if not finished:
        raise FileNotFoundError(f"{run_dir}: no finished seed (no {WEIGHTS} yet)")
    return finished


def named_run_dir(runs_dir: str | Path, name: str) -> Path:
    """`runs_dir/name`, refused when the name leads outside `runs_dir` or is `runs_dir` itself
    (`name: ../../x`, an absolute path, a symlink leaving it)."""
    folder = inside(runs_dir, name, "run name")
    if folder.resolve() == Path(runs_dir).resolve():
        raise PathEscapeError(f"run name {name!r} names no folder inside {runs_dir}")
    return folder


def own_files(run: Path, paths: list[Path]) -> list[Path]:
    """The paths that resolve inside the folder `run`; the others (symlinks pointing out) are
    reported with a warning and left out."""
    own = [p for p in paths if is_inside(p, run)]
    for p in sorted(set(paths) - set(own)):
        warnings.warn(f"{p}: points outside its run folder {run}; skipped", stacklevel=3)
    return own


def finished_runs(roots: Iterable[str | Path]) -> list[Path]:
    """Every finished run folder (one holding metrics.json) under the given folders, searched
    recursively; each folder once, and only those resolving inside their root. The folds of a
    cross-validated seed are not runs of their own (the seed folder pools them), nor are the
    held-out copies a fusion agent's run trains for its rollouts (CROSS_FIT_DIR)."""
    from ..agents.fusion.stage import CROSS_FIT_DIR

    found: dict[Path, Path] = {}
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"run folder not found: {root}")
        paths = [root / METRICS] if (root / METRICS).is_file() else []
        paths += sorted(
            p
            for p in root.rglob(METRICS)
            if p.parent != root
            and not p.parent.name.startswith(FOLD_PREFIX)
            and CROSS_FIT_DIR not in p.relative_to(root).parts
        )
        for path in own_files(root, paths):
            found[path.parent.resolve()] = path.parent
    return list(found.values())


def run_method(run_dir: Path) -> str:
    """The run's name: the folder above `seed-<k>` (the config's `name`), else the folder's."""
    return run_dir.parent.name if run_dir.name.startswith(SEED_PREFIX) else run_dir.name


def read_config(seed_dir: str | Path) -> dict[str, Any]:
    """The resolved config a run was trained with."""
    return yaml.safe_load((Path(seed_dir) / CONFIG).read_text())


def read_metrics(seed_dir: str | Path) -> dict[str, Any]:
    """A finished run's metrics.json (an error naming the file when it is not valid JSON)."""
    path = Path(seed_dir) / METRICS
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def read_predictions(seed_dir: str | Path, split: str) -> dict[str, Any] | None:
    """Per-utterance ids, gold and predicted labels of `split` (None if the run saved none)."""
    path = Path(seed_dir) / PREDICTIONS
    if not path.is_file() or not own_files(Path(seed_dir), [path]):
        return None
    return json.loads(path.read_text()).get(split)


def load_run(seed_dir: str | Path, device: str | None = None) -> LoadedRun:
    """A finished run, rebuilt from its folder and its training dataset (see `LoadedRun`);
    device: where the model goes (auto | cpu | cuda[:N]; None: the run's `train.device`).
    `affectrl.train.inference.TrainedModel` loads one without its dataset."""
    from .checkpoint import load_weights
    from .trainer import Run

    seed_dir = Path(seed_dir)
    if not (seed_dir / WEIGHTS).is_file():
        raise FileNotFoundError(f"{seed_dir} holds no finished run ({WEIGHTS} missing)")
    config = read_config(seed_dir)
    ds, model, splits = Run(config, seed_dir, progress=False, device=device).build()
    state, _ = load_weights(seed_dir / WEIGHTS)
    model.load_state_dict(state)
    return LoadedRun(ds, model.eval(), splits, config, seed_dir)


def train_run(config: dict[str, Any], run_dir: str | Path, progress: bool = False) -> LoadedRun:
    """Train (or resume, or reuse when finished) a resolved config in run_dir, then load it."""
    from .trainer import Run

    Run(config, run_dir, progress=progress).train()
    return load_run(run_dir)


def evaluate_run(seed_dir: str | Path, device: str | None = None) -> dict[str, Any]:
    """Metrics of a finished run's weights on dev and test; written to seed_dir/eval.json (of a
    cross-validated seed: per fold into its folder, and pooled over the folds' utterances with
    the per-fold figures under "folds"). device: as in `load_run`."""
    from ..eval.metrics import SUMMARY_KEYS
    from .cv import pooled_metrics
    from .trainer import predict

    folds = cv_fold_dirs(seed_dir)
    pooled: dict[str, dict[str, list]] = {"dev": {}, "test": {}}
    per_fold = []
    for d in folds or [Path(seed_dir)]:
        run = load_run(d, device)
        predictions = {}
        for split in ("dev", "test"):
            gold, pred, _ = predict(run.model, run.splits[split].in_order())
            predictions[split] = {"gold": gold.tolist(), "pred": pred.tolist()}
            for key, values in predictions[split].items():
                pooled[split].setdefault(key, []).extend(values)
        results = pooled_metrics(predictions, run.dataset.label_names)
        write_json(d / "eval.json", results)
        per_fold.append({s: {k: results[s][k] for k in SUMMARY_KEYS} for s in results})
    if folds is None:
        return results
    results = pooled_metrics(pooled, run.dataset.label_names) | {"folds": per_fold}
    write_json(Path(seed_dir) / "eval.json", results)
    return results


def grid_run(
    seed_dir: str | Path,
    grid: str,
    split: str = "test",
    seed: int | None = None,
    progress: bool = True,
    device: str | None = None,
) -> pd.DataFrame:
    """A finished run's model on every cell of the noise grid `grid` over `split`; the table,
    JSON and plot are written into the folder as robustness_<grid>.*. seed: of the corruptions
    (None: the run's own seed, as the benchmarks do); progress: a bar over the cells. Raw-level
    cells re-extract the run's `features:` from the corrupted media (`run_raw_cell_batches`). A
    cross-validated seed runs the grid on each fold's test split (table and JSON in the fold
    folders) and pools each cell over the folds: accuracy over all their utterances, weighted
    F1 as the folds' mean weighted by their utterances. device: as in `load_run` (corruptions
    run on the CPU)."""
    from ..noise.grid import run_grid, run_raw_cell_batches, write_grid

    folds = cv_fold_dirs(seed_dir)
    tables = []
    for d in folds or [Path(seed_dir)]:
        run = load_run(d, device)
        raw = run_raw_cell_batches(run.dataset, split, run.config)
        corruption_seed = run.seed if seed is None else seed
        table = run_grid(
            run.logits, run.dataset, split, grid, corruption_seed, progress=progress, raw=raw
        )
        write_grid(table, d, stem=f"robustness_{grid}", plot=folds is None)
        tables.append(table)
    if folds is None:
        return tables[0]
    results = _pool_cells(tables)
    write_grid(results, seed_dir, stem=f"robustness_{grid}")
    return results


def _pool_cells(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-fold grid tables -> one row per cell over all the folds' utterances."""
    import pandas as pd

    cells = pd.concat(tables, ignore_index=True)
    keys = [c for c in tables[0].columns if c not in ("accuracy", "weighted_f1", "n")]
    weighted = cells.assign(
        accuracy=cells["accuracy"] * cells["n"], weighted_f1=cells["weighted_f1"] * cells["n"]
    )
    sums = weighted.groupby(keys, sort=False, dropna=False)[["accuracy", "weighted_f1", "n"]]
    pooled = sums.sum()
    pooled[["accuracy", "weighted_f1"]] = pooled[["accuracy", "weighted_f1"]].div(
        pooled["n"], axis=0
    )
    return pooled.reset_index()


def explain_run(run_dir: str | Path, dialogue_id: str | None = None) -> dict:
    """Draw a finished run's test graphs into its folder (graph_dialogue.png, window_hist.png,
    graph_stats.json; see `affectrl.agents.graph.explain.explain_graphs`); returns the edge
    statistics."""
    from ..agents.graph.explain import explain_graphs

    run = load_run(run_dir)
    return explain_graphs(run.dataset, run.model, run.splits["test"], run.run_dir, dialogue_id)
