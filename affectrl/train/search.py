"""Hyper-parameter search on Ray Tune: an ASHA scheduler stops weak trials early, an Optuna
(TPE) searcher proposes the next configs; the objective is a config's dev metric.

The search space is YAML (`SearchSpace.load`):

    space:                                   # dotted config keys, one distribution each
      train.lr: {loguniform: [1.0e-4, 1.0e-2]}
      model.classifier.dropout: {uniform: [0.1, 0.5]}
      model.fusion.hidden: {choice: [32, 64, 128]}
    trials: 8                                # optional (default 8; --trials overrides)
    seed: 0                                  # optional: the searcher's seed
    scheduler: {grace_period: 2, reduction_factor: 2}   # optional, ASHA's (in epochs)

Each trial trains the base config with its sampled values on one seed into an ordinary run
folder, `<out>/trials/<key>/seed-<k>/`, where `<key>` is a digest of the sampled values: it
reports the dev score (the config's `train.select_metric`, best so far) after every epoch, and
at the last epoch the run's final dev score (after an agent stage, if any). Cross-validated
configs report once, their pooled dev score. Afterwards `<out>/search_results.csv` lists every
trial and `<out>/best.yaml` is the best finished trial's config, ready for `affectrl train`.

Restarting the same command resumes the search (Ray Tune's experiment state in `<out>/_ray`,
saved after every event, with the searcher's state): finished trials are not rerun, unfinished
ones continue from their run folder's last epoch. A trial whose values match a trial already
trained (a restored searcher proposing again what it proposed before a kill) finds its run
folder finished and only reports its recorded history; two such trials at once wait for each
other on a lock beside the folder.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import apply_overrides, load_config
from ..io import atomic_write, write_json
from .run_folder import METRICS, read_metrics

DISTRIBUTIONS = ("choice", "uniform", "loguniform")
SEARCH_KEYS = ("space", "trials", "seed", "scheduler")
SCHEDULER_KEYS = ("grace_period", "reduction_factor")
OBJECTIVE = "dev_score"
EXPERIMENT = "search"


@dataclass(frozen=True)
class SearchSpace:
    """A parsed search space: key -> (distribution, arguments); trials; searcher seed; ASHA
    settings (grace_period, reduction_factor; None: chosen from the epochs)."""

    space: dict[str, tuple[str, list]]
    trials: int = 8
    seed: int = 0
    scheduler: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        """Read and check a search-space YAML; errors name the file and the key."""
        path = Path(path)
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict) or not isinstance(raw.get("space"), dict) or not raw["space"]:
            raise ValueError(f"{path}: needs a non-empty `space:` mapping of config keys")
        unknown = set(raw) - set(SEARCH_KEYS)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {list(SEARCH_KEYS)}")
        space = {str(k): _distribution(path, str(k), v) for k, v in raw["space"].items()}
        trials, seed = raw.get("trials", 8), raw.get("seed", 0)
        if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
            raise ValueError(f"{path}: trials must be a positive integer, got {trials!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"{path}: seed must be an integer, got {seed!r}")
        scheduler = raw.get("scheduler") or {}
        if not isinstance(scheduler, dict) or set(scheduler) - set(SCHEDULER_KEYS):
            raise ValueError(f"{path}: scheduler takes {list(SCHEDULER_KEYS)}, got {scheduler!r}")
        for key, value in scheduler.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{path}: scheduler.{key} must be a positive integer")
        return cls(space, trials, seed, dict(scheduler))

    def corners(self) -> list[dict[str, Any]]:
        """Two points of the space (every key at its first / last value): checked before the
        search starts, so that a misspelt key fails at once, not in every trial."""
        ends = {k: (a[0], a[-1]) for k, (_, a) in self.space.items()}
        return [{k: v[i] for k, v in ends.items()} for i in (0, 1)]

    def tune_space(self) -> dict[str, Any]:
        """The space in Ray Tune's terms (Optuna's searcher converts it)."""
        from ray import tune

        make = {"choice": tune.choice, "uniform": tune.uniform, "loguniform": tune.loguniform}
        return {
            k: make[kind](args) if kind == "choice" else make[kind](*args)
            for k, (kind, args) in self.space.items()
        }


def _distribution(path: Path, key: str, spec: Any) -> tuple[str, list]:
    where = f"{path}: space.{key}"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ValueError(f"{where}: give one of {list(DISTRIBUTIONS)}, e.g. {{choice: [1, 2]}}")
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        scalar = (str, int, float, bool, type(None))
        if not isinstance(args, list) or not args or not all(isinstance(a, scalar) for a in args):
            raise ValueError(f"{where}: choice takes a non-empty list of plain values")
        return kind, list(args)
    if not (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
        and math.isfinite(args[0])
        and math.isfinite(args[1])
        and args[0] < args[1]
    ):
        raise ValueError(f"{where}: {kind} takes [low, high] with low < high")
    if kind == "loguniform" and args[0] <= 0:
        raise ValueError(f"{where}: loguniform needs low > 0")
    return kind, [float(a) for a in args]


def as_overrides(values: dict[str, Any]) -> list[str]:
    """Sampled values -> `key=value` overrides (JSON values read back as YAML)."""
    return [f"{k}={json.dumps(v)}" for k, v in sorted(values.items())]


def trial_key(values: dict[str, Any]) -> str:
    """A short stable digest of a trial's sampled values: its run folder's name."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trial_config(base: str, overrides: list[str], values: dict[str, Any]) -> dict[str, Any]:
    """The base config with the sweep-wide overrides and a trial's values applied."""
    return apply_overrides(load_config(base, overrides), as_overrides(values))


def _report_history(history: list[dict], select: str, sent: int, upto: int, report) -> int:
    """Report the best-so-far dev score for the epochs sent+1..upto of `history`."""
    best = max((h["dev"][select] for h in history[:sent]), default=-math.inf)
    for record in history[sent:upto]:
        best = max(best, record["dev"][select])
        report({OBJECTIVE: best, "epoch": record["epoch"]})
    return max(sent, min(upto, len(history)))


def train_trial(config: dict, run_dir: Path, report) -> dict:
    """Train (or resume, or reuse when finished) one resolved trial config in run_dir, calling
    report(metrics) once per epoch (the last one with the run's final dev score); returns the
    run's metrics. A lock beside run_dir makes a second trial of the same values wait."""
    from .cv import cv_settings, train_seed
    from .trainer import Run

    select = config["train"]["select_metric"]
    epochs = int(config["train"]["epochs"])
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f"{run_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cv_settings(config) is not None:  # folds: one report, the pooled dev score
            metrics = train_seed(config, run_dir, progress=False)
            report({OBJECTIVE: metrics["dev"][select], "epoch": epochs})
            return metrics
        sent = 0
        if (run_dir / METRICS).is_file():
            metrics = read_metrics(run_dir)
        else:

            def on_epoch(epoch: int, history: list[dict]) -> None:
                nonlocal sent
                sent = _report_history(history, select, sent, min(epoch, epochs - 1), report)

            metrics = Run(config, run_dir, progress=False).train(on_epoch_end=on_epoch)
        sent = _report_history(metrics.get("history", []), select, sent, epochs - 1, report)
        report({OBJECTIVE: metrics["dev"][select], "epoch": epochs})
        return metrics


def _trainable(
    values: dict, base: str, overrides: list[str], seed: int, out: str, cwd: str
) -> None:
    from ray import tune

    from .trainer import resolve_config

    os.chdir(cwd)  # the command's folder, not Ray's per-trial one (sweep.ray_session)

    config = trial_config(base, overrides, values)
    config["name"] = f"{config.get('name') or Path(base).stem}__{trial_key(values)}"
    resolved = resolve_config(config, seed)
    resolved["train"]["threads"] = 1  # one core per trial: trials run side by side
    run_dir = Path(out) / "trials" / trial_key(values) / f"seed-{seed}"
    train_trial(resolved, run_dir, tune.report)


def run_search(
    base: str,
    space: SearchSpace,
    out: Path,
    overrides: list[str] | None = None,
    seed: int = 1,
    address: str | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Search `space` around the config file `base` on Ray Tune (a new local instance with
    `workers` CPUs, or the cluster at `address`); resumes a search already in `out`. Writes
    out/search_results.csv and out/best.yaml; returns {"best": row, "trials": rows}."""
    from .sweep import ray_session, require_ray
    from .trainer import resolve_config

    require_ray()
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    overrides = list(overrides or [])
    out = Path(out)
    # two corners of the space resolved first: a misspelt key or value fails here, naming it
    corners = [resolve_config(trial_config(base, overrides, c), seed) for c in space.corners()]
    epochs = max(int(c["train"]["epochs"]) for c in corners)
    metric = corners[0]["train"]["select_metric"]
    grace = space.scheduler.get("grace_period", max(1, epochs // 4))
    trainable = tune.with_resources(
        tune.with_parameters(
            _trainable, base=str(Path(base).resolve()), overrides=overrides, seed=seed,
            out=str(out.resolve()), cwd=os.getcwd(),
        ),
        {"cpu": 1},
    )  # fmt: skip
    _claim(out, {"config": str(Path(base).resolve()), "overrides": overrides, "seed": seed}
           | dataclasses.asdict(space))  # fmt: skip
    experiment = (out / "_ray" / EXPERIMENT).resolve()
    # The experiment state after every event (Ray's default: every >= 10 s), so that a search
    # killed with -9 restores with every trial it saw finish.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    with ray_session(address, workers):
        if tune.Tuner.can_restore(str(experiment)) and readable_experiment_state(experiment):
            tuner = tune.Tuner.restore(str(experiment), trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=space.tune_space(),
                tune_config=tune.TuneConfig(
                    metric=OBJECTIVE,
                    mode="max",
                    num_samples=space.trials,
                    scheduler=ASHAScheduler(
                        time_attr="training_iteration",
                        max_t=epochs,
                        grace_period=min(grace, epochs),
                        reduction_factor=space.scheduler.get("reduction_factor", 2),
                    ),
                    search_alg=OptunaSearch(seed=space.seed),
                    reuse_actors=True,  # no new process (and torch import) per trial
                ),
                run_config=tune.RunConfig(
                    name=EXPERIMENT, storage_path=str(experiment.parent), verbose=0
                ),
            )
        results = tuner.fit()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} search trials failed; first: {errors[0]}")
    rows = _result_rows(results, space, out, seed)
    return {"best": _write_best(base, overrides, rows, out, metric), "trials": rows}


def readable_experiment_state(experiment: Path) -> bool:
    """Whether Ray Tune's newest experiment state in `experiment` can be read; if not (a kill
    -9 while Ray wrote it, which it does in place: an empty or cut file), the folder is moved
    aside (`<name>.unreadable-<k>`, nothing deleted) and the search starts a new experiment.
    Ray would otherwise log "Failed to restore the run state" and go on without the search
    space. Trials already trained stay in their run folders: a new searcher with the same seed
    proposes the same values again while it samples at random (Optuna's first 10 trials), and
    those finished folders only report their recorded history."""
    states = sorted(experiment.glob("experiment_state-*.json"))  # the newest last, as Ray reads
    if states:
        try:
            json.loads(states[-1].read_text())
            return True
        except (ValueError, OSError):
            pass
    k = 1
    while experiment.with_name(f"{experiment.name}.unreadable-{k}").exists():
        k += 1
    experiment.rename(experiment.with_name(f"{experiment.name}.unreadable-{k}"))
    return False


def _claim(out: Path, search: dict[str, Any]) -> None:
    """Record the search in out/search.json, or check that the one there is the same: a
    restart resumes the search it names, so a different one must go to another folder."""
    path = out / "search.json"
    search = json.loads(json.dumps(search))  # tuples -> lists, as read back
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != search:
            raise ValueError(
                f"{out} holds a different search ({path}: {recorded}); resume it with the same "
                "command, or use another --out"
            )
        return
    write_json(path, search)


def _result_rows(results, space: SearchSpace, out: Path, seed: int) -> list[dict[str, Any]]:
    """One row per trial, best first: its values, last reported dev score, epochs run, whether
    it ran to its last epoch, its run folder; also written to out/search_results.csv."""
    import pandas as pd

    rows = []
    for result in results:
        values = {k: result.config[k] for k in space.space}
        run_dir = out / "trials" / trial_key(values) / f"seed-{seed}"
        metrics = result.metrics or {}
        rows.append(
            {
                "trial": trial_key(values),
                "values": values,
                OBJECTIVE: metrics.get(OBJECTIVE),
                "epochs": metrics.get("epoch"),
                "finished": (run_dir / METRICS).is_file(),
                "run_dir": str(run_dir),
            }
        )
    rows.sort(  # best first; ties: the longer-trained, then by key (a stable order on restart)
        key=lambda r: (
            -(-math.inf if r[OBJECTIVE] is None else r[OBJECTIVE]),
            -(r["epochs"] or 0),
            r["trial"],
        )
    )
    frame = pd.DataFrame([{"trial": r["trial"], **r["values"]} | r for r in rows])
    frame = frame.drop(columns="values")
    atomic_write(out / "search_results.csv", lambda p: frame.to_csv(p, index=False))
    return rows


def _write_best(base: str, overrides: list[str], rows: list[dict], out: Path, metric: str) -> dict:
    """out/best.yaml: the best finished trial's config (the base with its values), named
    `<base name>_best`, with a comment saying where it came from."""
    finished = [r for r in rows if r["finished"] and r[OBJECTIVE] is not None]
    if not finished:
        raise RuntimeError(f"no search trial in {out} ran to its last epoch; nothing to write")
    best = finished[0]
    values = best["values"]
    config = trial_config(base, overrides, values)
    config["name"] = f"{config.get('name') or Path(base).stem}_best"
    header = (
        f"# affectrl sweep --search: best of {len(rows)} trials ({len(finished)} ran to the end) "
        f"around {base}\n# dev {metric} = "
        f"{best[OBJECTIVE]:.4f}; values: {json.dumps(values)}; run folder {best['run_dir']}\n"
        f"# train it: affectrl train --config {out / 'best.yaml'} --seeds 1 2 3\n"
    )
    text = header + yaml.safe_dump(config, sort_keys=False)
    atomic_write(out / "best.yaml", lambda p: p.write_text(text))
    return best
