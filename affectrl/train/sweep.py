"""Sweeps: configs × seeds × noise protocols, run locally (a process pool) or on Ray Tune.

Every trial writes the same run folder whichever backend ran it (`<out>/<name>/seed-<k>/`), a
finished trial (metrics.json present) is skipped when a sweep is restarted, and the result table
is computed from the run folders afterwards (`affectrl.report.tables.result_table`), so local and
Ray sweeps give the same table. Two trials of one folder are one trial when their configs agree
and an error when they differ (they would race on it); a local sweep's workers exit when the
sweep process dies (kill -9 included).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from ..config import load_config
from .run_folder import METRICS, named_run_dir


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep.

    Attributes:
        config: path of the YAML config.
        seed: training seed.
        overrides: `key=value` overrides applied to the config (sweep-wide `--set` values).
        noise: name of a noise protocol (sets `noise.protocol`), or None for clean training.
    """

    config: str
    seed: int
    overrides: tuple[str, ...] = ()
    noise: str | None = None

    def resolved(self) -> dict:
        extra = (f"noise.protocol={self.noise}",) if self.noise else ()
        return load_config(self.config, self.overrides + extra)

    def name(self) -> str:
        base = self.resolved().get("name") or Path(self.config).stem
        return f"{base}__{self.noise}" if self.noise else str(base)

    def run_dir(self, out: Path) -> Path:
        return named_run_dir(out, self.name()) / f"seed-{self.seed}"


def expand(
    configs: list[str],
    seeds: list[int],
    overrides: tuple[str, ...] = (),
    noises: list[str | None] | None = None,
) -> list[Trial]:
    """The full grid, in a fixed order (config, noise, seed)."""
    return [Trial(c, s, overrides, n) for c in configs for n in (noises or [None]) for s in seeds]


def run_trial(trial: Trial, out: str | Path, threads: int = 1) -> dict:
    """Train one trial into its run folder (resuming it if it was interrupted)."""
    from .cv import train_seed
    from .trainer import resolve_config

    config = trial.resolved()
    config["name"] = trial.name()
    resolved = resolve_config(config, trial.seed)
    resolved["train"]["threads"] = threads  # one core per trial: trials run side by side
    return train_seed(resolved, trial.run_dir(Path(out)), progress=False)


def one_per_folder(trials: list[Trial], out: Path) -> list[Trial]:
    """The trials with each run folder once: a repeat with the same resolved config and seed is
    dropped; two different configs for one folder are a ValueError naming both."""
    chosen: dict[Path, Trial] = {}
    for trial in trials:
        folder = trial.run_dir(out)
        first = chosen.setdefault(folder, trial)
        if first is not trial and first.resolved() != trial.resolved():
            raise ValueError(
                f"two trials write {folder}: {first.config} and {trial.config} differ but have "
                "the same name (give one another `name:`)"
            )
    return list(chosen.values())


def pending_trials(trials: list[Trial], out: Path) -> list[Trial]:
    """Unfinished trials, one per run folder."""
    return [t for t in one_per_folder(trials, out) if not (t.run_dir(out) / METRICS).is_file()]


def exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Worker initializer: a daemon thread ends this process when its parent is gone, so a
    sweep killed with -9 leaves no workers training (and then hanging on a dead pipe)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_local(trials: list[Trial], out: Path, workers: int = 2) -> None:
    """Run the pending trials in a pool of `workers` processes (spawned: safe with torch)."""
    todo = pending_trials(trials, out)
    if not todo:
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = {pool.submit(run_trial, t, str(out)): t for t in todo}
        for future in tqdm(as_completed(futures), total=len(futures), desc="sweep", unit="trial"):
            future.result()


def _ray_trainable(params: dict) -> None:
    from ray import tune

    os.chdir(params["cwd"])
    trial = Trial(**{**params["trial"], "overrides": tuple(params["trial"]["overrides"])})
    metrics = run_trial(trial, params["out"])
    tune.report({f"test_{k}": metrics["test"][k] for k in ("accuracy", "weighted_f1")})


def run_ray(
    trials: list[Trial],
    out: Path,
    address: str | None = None,
    cpus_per_trial: int = 1,
    num_cpus: int | None = None,
) -> None:
    """Run the pending trials on Ray Tune: a local Ray instance, or the cluster at `address`."""
    todo = pending_trials(trials, out)
    if not todo:
        return
    with ray_session(address, num_cpus):
        from ray import tune

        grid = [{**asdict(t), "overrides": list(t.overrides)} for t in todo]
        tuner = tune.Tuner(
            tune.with_resources(_ray_trainable, {"cpu": cpus_per_trial}),
            param_space={
                "trial": tune.grid_search(grid),
                "out": str(out.resolve()),
                "cwd": os.getcwd(),
            },
            run_config=tune.RunConfig(
                name="ray", storage_path=str((out / "_ray").resolve()), verbose=0
            ),
        )
        results = tuner.fit()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} Ray trials failed; first: {errors[0]}")


def require_ray() -> None:
    """A clear error when Ray Tune or Optuna (the `ray` extra) is not installed."""
    try:
        import optuna  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            f"the Ray backend needs the `ray` extra ({exc.name} is missing): "
            "pip install -e '.[ray]'"
        ) from None


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Ray for the length of a `with` block: a new local instance with `num_cpus` CPUs, or the
    running cluster at `address` (e.g. "auto", "ray://host:10001"); a clear error without the
    `ray` extra."""
    require_ray()
    import ray

    # Ray Tune runs each trial in a folder of its own: trainables go back to the command's
    # folder (os.chdir(cwd)) so that ./data, ./.cache and relative paths in configs mean there
    # what they mean here; the AFFECTRL_* settings travel too (a cluster's workers have their
    # own environment).
    env = {k: v for k, v in os.environ.items() if k.startswith("AFFECTRL_")}
    ray.init(
        # "local": a new instance even where `ray start` left a cluster running on this machine
        # (ray.init(None) would join that cluster, another user's perhaps)
        address=address or "local",
        num_cpus=None if address else num_cpus,
        runtime_env={"env_vars": env} if env else None,
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
