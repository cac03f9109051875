"""One training run (one config, one seed) in one folder, resumable after a kill.

Folder layout (runs/<name>/seed-<k>/):
    config.yaml          the resolved config, seed included
    checkpoint.safetensors  last finished epoch (model, optimizer, scheduler, RNG); written
                         atomically after every epoch, removed when the run finishes
    best.safetensors     best-on-dev weights so far (written when they change; a replayed epoch
                         rewrites them identically), removed when the run finishes
    model.safetensors    the weights chosen on dev
    metrics.json         dev and test metrics of those weights, history, timings (= run done)
    predictions.json     per split: utterance ids, gold and predicted labels
    predictions.csv      per dev/test utterance: label names, class probabilities, fusion
                         weights, kept graph edges (affectrl.train.inference)
    inputs.json          what the model reads (labels, modalities, feature sizes, speakers)
    standardizer.safetensors  the train-split z-scoring, for `standardize: true` configs
    tb/                  TensorBoard events
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from tqdm import tqdm

from ..config import merge
from ..device import resolve_device
from ..eval.metrics import classification_metrics
from ..eval.predict import evaluate, predict
from ..io import atomic_write, folder_lock, write_json
from ..models import build_model
from ..models.parts import FitContext
from .allocator import keep_freed_memory
from .checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from .data import Batches, dataset_for, modalities_for, require_labels, standardizer
from .finite import check_loss, check_split_loss
from .inference import ModelInputs, prediction_table, save_run_inputs, write_predictions
from .run_folder import CONFIG, METRICS, PREDICTIONS, WEIGHTS, train_run
from .settings import SELECT_METRICS, Settings, defaults

DEFAULTS: dict[str, Any] = defaults()  # the typed settings' defaults (affectrl.train.settings)


def resolve_config(config: dict, seed: int) -> dict:
    """Defaults under the user's config, plus the seed; every setting checked (an unknown key,
    a wrong type, a value out of range, an unknown part or part option is an error naming it)
    before anything is built or trained."""
    resolved = merge(DEFAULTS, config)
    for section, default in DEFAULTS.items():
        if isinstance(default, dict) and resolved[section] is None:
            resolved[section] = copy.deepcopy(default)  # `noise: null`: the default (no noise)
    Settings.parse(resolved)
    resolved["seed"] = int(seed)
    return resolved


def seed_everything(seed: int, threads: int, device: torch.device | None = None) -> None:
    """Seed Python, numpy and torch (every device); on CUDA also ask for deterministic
    kernels, so the same seed on the same device gives the same numbers.

    Floats below 1.2e-38 (denormals) are flushed to zero on the CPU, for speed: MiniLM text
    features have two dimensions near 1e-33, whose products with small gradients are
    denormal, and the CPU computes denormals about 100x slower (the first transformer layer's
    weight gradient took 10x longer). Such values are far below the rounding of the sums they
    enter; on the runs checked the weights come out bit-identical either way
    (docs/PERFORMANCE.md). It is set for this thread, the one PyTorch computes on with
    `threads: 1`.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    # oneDNN (bfloat16 matrix products, COGMEN `fast`) keeps a compiled kernel per shape, up
    # to 1024 by default; batches of varying size grew the memory ~0.1 GB per epoch. Read when
    # oneDNN builds its first kernel, so set before the first forward.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "256")
    keep_freed_memory()  # no page faults for each step's tensors (allocator.py)
    if device is not None and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
        torch.use_deterministic_algorithms(True, warn_only=True)


def parameter_groups(model: torch.nn.Module) -> list[dict]:
    """The optimizer's parameter groups: the parameters of each sub-module that sets its own
    `policy_lr` (an RL graph policy, which gets ~4 updates per epoch on IEMOCAP and would barely
    move at the classifier's rate) learn at that rate; all others at train.lr."""
    groups, seen = [], set()
    for module in model.modules():
        rate = getattr(module, "policy_lr", None)
        if module is not model and rate is not None:
            params = [p for p in module.parameters() if id(p) not in seen]
            seen.update(map(id, params))
            groups.append({"params": params, "lr": float(rate)})
    rest = [p for p in model.parameters() if id(p) not in seen]
    return [{"params": rest}, *groups]


def _short(metrics: dict) -> dict[str, float]:
    return {k: metrics[k] for k in SELECT_METRICS}


class Run:
    """A training run in `run_dir` for a resolved config (see `resolve_config`).

    device: overrides the config's `train.device` (e.g. to evaluate a GPU-trained run on a
    CPU); None keeps it. The device is not part of the run's identity: a run may resume on
    another device."""

    def __init__(
        self, config: dict, run_dir: str | Path, progress: bool = True, device: str | None = None
    ):
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        self.device_name = device
        self.checkpoint_path = self.run_dir / "checkpoint.safetensors"
        self.best_path = self.run_dir / "best.safetensors"
        self.metrics_path = self.run_dir / METRICS

    @property
    def done(self) -> bool:
        return self.metrics_path.is_file()

    def _check_config(self) -> None:
        path = self.run_dir / CONFIG
        if path.is_file():
            saved = _with_current_defaults(yaml.safe_load(path.read_text()))
            if _without_device(saved) != _without_device(self.config):
                raise ValueError(
                    f"{self.run_dir} holds a run of a different config; use another --name "
                    "or delete the folder"
                )
        else:
            text = yaml.safe_dump(self.config, sort_keys=False)
            atomic_write(path, lambda p: p.write_text(text))

    def build(self):
        cfg = self.config
        self.device = resolve_device(self.device_name or cfg["train"].get("device", "auto"))
        seed_everything(cfg["seed"], cfg["train"]["threads"], self.device)
        ds = dataset_for(cfg, str(self.device))
        modalities = modalities_for(cfg, ds)
        dims = {m: ds.feature_dims()[m] for m in modalities}
        # built on the CPU, then moved: the same seed gives the same initial weights anywhere
        model = build_model(cfg["model"], dims, ds.num_classes, ds.num_speakers).to(self.device)
        bs = cfg["train"]["batch_size"]
        transform = standardizer(ds, modalities, cfg["standardize"]) if cfg["standardize"] else None
        splits = {s: Batches(ds, s, modalities, bs, transform) for s in ("train", "dev", "test")}
        require_labels(ds, tuple(splits))
        self.corrupt = None
        if cfg["noise"].get("protocol"):
            from ..noise.protocols import get_curriculum

            curriculum = get_curriculum(cfg["noise"]["protocol"])
            stats = splits["train"].noise_stats()  # corrupted before the transform
            self.corrupt = lambda batch, progress, step: curriculum.corrupt(
                batch, progress, cfg["seed"] * 1_000_003 + step, stats
            )
        if self.done:  # e.g. a finished agent run decides with its trained policy
            for part in model.parts():
                part.restore(self.run_dir)
        return ds, model, splits

    def train(self, on_epoch_end: Callable[[int, list[dict]], None] | None = None) -> dict:
        """Train (or continue) to the configured epochs; returns the final metrics dict.

        The folder is created only once the model is built and its parts have checked the run
        (`before_fit`): a config error that needs the data to show (a modality the dataset
        lacks, a grid that does not fit the run's modalities) leaves no run folder behind. The
        folder is then locked while training: a second writer fails at once
        (`FolderInUseError`). on_epoch_end(epoch, history): called after each epoch's checkpoint
        with the history so far (one record per epoch since the start, resumed epochs included)."""
        if self.run_dir.is_dir():  # a folder of another config's run is refused up front
            self._check_config()
        if self.done:
            return json.loads(self.metrics_path.read_text())
        ds, model, splits = self.build()
        for part in model.parts():
            part.before_fit(
                model, FitContext(self.config, ds, splits, self.run_dir, None, self.progress)
            )
        with folder_lock(self.run_dir):  # creates the folder
            self._check_config()
            return self._fit(ds, model, splits, on_epoch_end)

    def _fit(
        self, ds, model, splits, on_epoch_end: Callable[[int, list[dict]], None] | None
    ) -> dict:
        cfg, tcfg = self.config, self.config["train"]
        # foreach: the same numbers as the per-parameter loop, 10-15% faster on CPU
        kernel = {"fused": True} if tcfg["fused_adam"] else {"foreach": True}
        optimizer = torch.optim.Adam(
            parameter_groups(model), lr=tcfg["lr"], weight_decay=tcfg["weight_decay"], **kernel
        )
        scheduler = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
            if tcfg["scheduler"] == "plateau"
            else None
        )
        state = {"epoch": 0, "best_epoch": 0, "best_dev": None, "history": []}
        if self.checkpoint_path.is_file():
            state = load_checkpoint(self.checkpoint_path, model, optimizer, scheduler)
            state = {k: state[k] for k in ("epoch", "best_epoch", "best_dev", "history")}
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.run_dir / "tb"))
        dev_batches, test_batches = splits["dev"].in_order(), splits["test"].in_order()
        select = tcfg["select_metric"]
        epochs = range(state["epoch"] + 1, tcfg["epochs"] + 1)
        bar = tqdm(
            epochs,
            desc=f"{self.run_dir.parent.name}/{self.run_dir.name}",
            disable=not self.progress,
            leave=False,
        )
        for epoch in bar:
            start, cpu_start = time.perf_counter(), time.process_time()
            generator = torch.Generator().manual_seed(cfg["seed"] * 100_003 + epoch)
            batches = splits["train"].shuffled(generator, self._epoch_noise(epoch))
            train_loss = self._train_epoch(model, optimizer, batches, epoch)
            train_seconds = time.perf_counter() - start
            train_cpu_seconds = time.process_time() - cpu_start
            dev, dev_loss = evaluate(model, dev_batches, ds.label_names)
            check_split_loss(dev_loss, f"dev loss after epoch {epoch}", model, dev_batches)
            if scheduler is not None:
                scheduler.step(dev_loss)
            test = None
            if tcfg["eval_test_every_epoch"]:
                test, test_loss = evaluate(model, test_batches, ds.label_names)
                check_split_loss(test_loss, f"test loss after epoch {epoch}", model, test_batches)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
            last = tcfg["select"] == "last"
            if state["best_dev"] is None or dev[select] > state["best_dev"] or last:
                state["best_dev"], state["best_epoch"] = dev[select], epoch
                save_weights(self.best_path, model.state_dict())
            record = {
                "epoch": epoch,
                "train_loss": train_loss,
                "dev_loss": dev_loss,
                "seconds": seconds,
                "train_seconds": train_seconds,
                "cpu_seconds": cpu_seconds,
                "train_cpu_seconds": train_cpu_seconds,
                "lr": optimizer.param_groups[0]["lr"],
                "dev": _short(dev),
            }
            if test is not None:
                record["test"] = _short(test)
            state["history"].append(record)
            state["epoch"] = epoch
            self._log(writer, record)
            save_checkpoint(self.checkpoint_path, model, optimizer, state, scheduler)
            record["checkpoint_seconds"] = time.perf_counter() - start - seconds
            bar.set_postfix(
                dev=f"{dev[select]:.4f}", best=f"{state['best_dev']:.4f}@{state['best_epoch']}"
            )
            if on_epoch_end is not None:
                on_epoch_end(epoch, state["history"])
        results = self._finish(ds, model, state, splits, writer)
        writer.close()
        return results

    def _epoch_noise(self, epoch: int):
        """The noise curriculum's corruption of epoch `epoch`'s batches (severity ramping with
        the share of epochs done), or None without a curriculum."""
        if self.corrupt is None:
            return None
        progress = (epoch - 1) / self.config["train"]["epochs"]
        return lambda batch, i: self.corrupt(batch, progress, epoch * 10_000 + i)

    def _train_epoch(self, model, optimizer, batches, epoch: int) -> float:
        """One pass over the training batches; a NaN/Inf loss stops the run (finite.py)."""
        model.train()
        total = 0.0
        clip = self.config["train"]["grad_clip"]
        for index, batch in enumerate(batches, start=1):
            batch = batch.to(self.device)  # after any corruption, which runs on the CPU
            optimizer.zero_grad()
            loss = model.loss(model(batch), batch)
            value = float(loss.detach())
            check_loss(value, f"train loss at epoch {epoch}, batch {index}", model, batch)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += value
        return total

    @staticmethod
    def _log(writer, record: dict) -> None:
        step = record["epoch"]
        for key in ("train_loss", "dev_loss", "seconds", "lr"):
            writer.add_scalar(key, record[key], step)
        for split in ("dev", "test"):
            for key, value in record.get(split, {}).items():
                writer.add_scalar(f"{split}/{key}", value, step)

    def _finish(self, ds, model, state, splits, writer) -> dict:
        model.load_state_dict(load_weights(self.best_path)[0])
        dev_batches, test_batches = splits["dev"].in_order(), splits["test"].in_order()
        fit = FitContext(self.config, ds, splits, self.run_dir, writer, self.progress, train_run)
        recorded: dict[str, Any] = {}  # what the parts' after-fit hooks report
        for part in model.parts():
            recorded |= part.after_fit(model, fit)
        results: dict[str, Any] = {}
        predictions: dict[str, Any] = {}
        tables = []
        for split, batches in (("dev", dev_batches), ("test", test_batches)):
            gold, pred, _ = predict(model, batches)
            results[split] = classification_metrics(gold, pred, ds.label_names)
            index = {d.id: d for d in ds.dialogues(split)}
            ids = [u for b in batches for d in b.dialogue_ids for u in _labelled_ids(index[d])]
            predictions[split] = {
                "utterance_ids": ids,
                "gold": gold.tolist(),
                "pred": pred.tolist(),
            }
            names = ds.label_names
            tables.append(prediction_table(model, batches, index, names, names, split))
        history = state["history"]
        results.update(
            {
                "seed": self.config["seed"],
                "dataset": self.config["dataset"],
                "best_epoch": state["best_epoch"],
                "epochs": state["epoch"],
                "s_per_epoch": float(np.mean([h["seconds"] for h in history])) if history else 0.0,
                "checkpoint_s_per_epoch": float(
                    np.mean([h.get("checkpoint_seconds", 0.0) for h in history]) if history else 0.0
                ),
                "history": history,
                "device": str(self.device),
            }
        )
        results.update(recorded)
        save_weights(self.run_dir / WEIGHTS, model.state_dict(), {"config": self.config})
        write_json(self.run_dir / PREDICTIONS, predictions)
        write_predictions(pd.concat(tables, ignore_index=True), self.run_dir / "predictions.csv")
        save_run_inputs(
            self.run_dir, ModelInputs.of(ds, splits["train"].modalities), splits["train"].transform
        )
        write_json(self.metrics_path, results)
        self.checkpoint_path.unlink(missing_ok=True)
        self.best_path.unlink(missing_ok=True)
        return results


def _with_current_defaults(saved: dict) -> dict:
    """A run folder's saved config with the settings added since it was written filled in
    with their defaults, so a toolkit upgrade that adds a setting (whose default keeps the old
    behaviour) does not turn every earlier run into "a different config". A saved config the
    current settings reject (a setting since removed) is compared as it is, and so differs."""
    try:
        return resolve_config(saved, saved.get("seed", 0))
    except (ValueError, TypeError, KeyError):
        return saved


def _without_device(config: dict) -> dict:
    """The config less `train.device` (where a run trains is not what it is)."""
    train = {k: v for k, v in config.get("train", {}).items() if k != "device"}
    return {**config, "train": train}


def _labelled_ids(d) -> list[str]:
    """Labelled utterance ids of a dialogue (the order predictions are produced in)."""
    return [u for u, y in zip(d.utterance_ids, d.labels, strict=True) if y >= 0]
