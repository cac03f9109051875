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
import difflib
import json
import math
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

from .. import agents  # noqa: F401  (registers the agent fusion and the learned graphs)
from ..agents.fusion.stage import (
    AGENT_DEFAULTS,
    check_agent_settings,
    restore_agent,
    run_agent_stage,
    wants_agent_stage,
)
from ..config import merge, reads_as_number
from ..device import check_device_name, module_device, resolve_device
from ..eval.metrics import classification_metrics
from ..io import atomic_write, folder_lock, write_json
from ..models import build_model
from .checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from .cv import check_cv
from .data import STANDARDIZE, Batches, dataset_for, modalities_for, require_labels, standardizer
from .finite import check_loss, check_split_loss
from .inference import ModelInputs, prediction_table, save_run_inputs, write_predictions
from .run_folder import CONFIG, METRICS, PREDICTIONS, WEIGHTS
from .tuning import tune_fixed_weights

DEFAULTS: dict[str, Any] = {
    "features": {},
    "modalities": None,
    "standardize": False,
    "noise": {"protocol": None},
    "model": {
        "fusion": {"name": "concat"},
        "context": {"name": "none"},
        "classifier": {"hidden": 100, "dropout": 0.5},
        "unimodal_loss_weight": 0.0,
    },
    "train": {
        "epochs": 55,
        "batch_size": 32,
        "lr": 1.0e-4,
        "weight_decay": 1.0e-8,
        "scheduler": "plateau",
        "select_metric": "weighted_f1",
        "select": "dev",
        "grad_clip": None,
        "threads": 1,
        "eval_test_every_epoch": True,
        "cv": None,
        "device": "auto",  # auto | cpu | cuda | cuda:N (affectrl.device)
    },
}
SELECT_METRICS = ("accuracy", "weighted_f1", "macro_f1")
# The settings each closed part of a config may hold: a key outside these is a typo that would
# otherwise train silently with the default. (Component options, e.g. model.fusion.hidden, are
# checked against the component's constructor when the model is built.)
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": (*DEFAULTS, "name", "dataset", "agent", "seed"),
    "train": tuple(DEFAULTS["train"]),
    "model": tuple(DEFAULTS["model"]),
    "model.classifier": tuple(DEFAULTS["model"]["classifier"]),
    "noise": tuple(DEFAULTS["noise"]),
    "agent": tuple(AGENT_DEFAULTS),
}


def resolve_config(config: dict, seed: int) -> dict:
    """Defaults under the user's config, plus the seed; checks the names it can check early."""
    resolved = merge(DEFAULTS, config)
    if "dataset" not in resolved:
        raise ValueError("config has no `dataset:` (e.g. dataset: mosi)")
    for section, default in DEFAULTS.items():
        if isinstance(default, dict):
            if resolved[section] is None:  # `noise: null` in a config: the default (no noise)
                resolved[section] = copy.deepcopy(default)
            elif not isinstance(resolved[section], dict):
                raise ValueError(
                    f"config section `{section}:` must be a mapping (or null for the "
                    f"defaults); got {resolved[section]!r}"
                )
    _check_known_keys(resolved)
    _check_types(resolved)
    _check_train_section(resolved["train"])
    check_cv(resolved["train"]["cv"])
    check_agent_settings(resolved)
    if resolved["standardize"] not in STANDARDIZE:
        raise ValueError(
            f"standardize must be one of {STANDARDIZE}, got {resolved['standardize']!r}"
        )
    if resolved["train"]["select_metric"] not in SELECT_METRICS:
        raise ValueError(f"train.select_metric must be one of {SELECT_METRICS}")
    if resolved["train"]["select"] not in ("dev", "last"):
        raise ValueError(
            "train.select must be `dev` (best dev select_metric) or `last` (last epoch)"
        )
    resolved["seed"] = int(seed)
    return resolved


def _check_known_keys(config: dict) -> None:
    """Every key of the closed sections (`KNOWN_KEYS`) is one the toolkit reads."""
    for section, known in KNOWN_KEYS.items():
        part = config
        for key in filter(None, section.split(".")):
            part = part.get(key) if isinstance(part, dict) else None
        if not isinstance(part, dict):
            continue
        for key in part:
            if key not in known:
                where = f"{section}.{key}" if section else str(key)
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                raise ValueError(
                    f"unknown config setting `{where}`{hint} (known in "
                    f"{'`' + section + ':`' if section else 'the top level'}: {', '.join(known)})"
                )


# beyond these a value is a typo (lr=1e4 for 1e-4), not a plan; huge ones crash torch
LIMITS = {
    "epochs": 100_000,
    "batch_size": 1_000_000,
    "threads": 256,
    "lr": 1e3,
    "weight_decay": 1e3,
}


def _check_train_section(train: dict) -> None:
    """Types and ranges of the numeric `train:` settings (an override like train.epochs=abc
    is a config error, not a crash mid-run; lr=.inf or grad_clip=-1 would wreck the run)."""
    rules = {
        "epochs": (int, 1),
        "batch_size": (int, 1),
        "threads": (int, 1),
        "lr": ((int, float), 0),
        "weight_decay": ((int, float), 0),
    }
    for key, (kind, low) in rules.items():
        value = train[key]
        if isinstance(value, bool) or not isinstance(value, kind) or not value >= low:
            what = "an integer" if kind is int else "a number"
            hint = " (YAML reads 1e-4 as text: write 1.0e-4)" if reads_as_number(value) else ""
            raise ValueError(f"train.{key} must be {what} >= {low}, got {value!r}{hint}")
        if not value <= LIMITS[key]:
            raise ValueError(f"train.{key} must be at most {LIMITS[key]} (a typo?), got {value!r}")
    clip = train["grad_clip"]
    if clip is not None and (
        isinstance(clip, bool)
        or not isinstance(clip, (int, float))
        or not math.isfinite(clip)
        or clip <= 0
    ):
        raise ValueError(
            f"train.grad_clip must be a finite number > 0 (the largest gradient norm) or null "
            f"(no clipping), got {clip!r}"
        )
    if train["scheduler"] not in ("plateau", "none", None):
        raise ValueError(f"train.scheduler must be `plateau` or `none`, got {train['scheduler']!r}")
    check_device_name(train["device"])


def _check_types(config: dict) -> None:
    """Settings that hold a list or a mapping: a string there (`modalities: text`) would be
    read character by character."""
    modalities = config["modalities"]
    if modalities is not None and (
        not isinstance(modalities, list)
        or not all(isinstance(m, str) for m in modalities)
        or len(set(modalities)) != len(modalities)
    ):
        raise ValueError(
            f"`modalities:` must be a list of distinct modality names, e.g. [text] or "
            f"[text, audio] (or null for all), got {modalities!r}"
        )
    features = config["features"]
    if not isinstance(features, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in features.items()
    ):
        raise ValueError(
            f"`features:` must map modalities to encoder names, e.g. {{text: minilm}}, "
            f"got {features!r}"
        )
    if not isinstance(config["dataset"], str):
        raise ValueError(f"`dataset:` must be a name such as mosi, got {config['dataset']!r}")


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


def predict(model: torch.nn.Module, batches: list) -> tuple[np.ndarray, np.ndarray, float]:
    """-> gold [N], predicted [N] over labelled utterances, and the summed mean batch loss
    (batches are moved to the model's device)."""
    model.eval()
    device = module_device(model)
    golds, preds, loss = [], [], 0.0
    with torch.inference_mode():
        for batch in batches:
            batch = batch.to(device)
            out = model(batch)
            loss += float(model.loss(out, batch))
            labels = batch.labels[batch.utterance_mask]
            keep = labels >= 0
            golds.append(labels[keep])
            preds.append(out.logits.argmax(-1)[keep])
    return torch.cat(golds).cpu().numpy(), torch.cat(preds).cpu().numpy(), loss


def evaluate(model, batches, label_names) -> tuple[dict, float]:
    gold, pred, loss = predict(model, batches)
    return classification_metrics(gold, pred, label_names), loss


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
            saved = yaml.safe_load(path.read_text())
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
        check_agent_settings(cfg, modalities)
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
            stats = splits["train"].feature_stats()
            self.corrupt = lambda batch, progress, step: curriculum.corrupt(
                batch, progress, cfg["seed"] * 1_000_003 + step, stats
            )
        if self.done:  # a finished agent run decides with its trained policy
            restore_agent(model, self.run_dir)
        return ds, model, splits

    def train(self, on_epoch_end: Callable[[int], None] | None = None) -> dict:
        """Train (or continue) to the configured epochs; returns the final metrics dict. The run
        folder is locked meanwhile: a second writer fails at once (`FolderInUseError`)."""
        with folder_lock(self.run_dir):
            return self._train(on_epoch_end)

    def _train(self, on_epoch_end: Callable[[int], None] | None) -> dict:
        self._check_config()
        if self.done:
            return json.loads(self.metrics_path.read_text())
        cfg, tcfg = self.config, self.config["train"]
        ds, model, splits = self.build()
        optimizer = torch.optim.Adam(
            parameter_groups(model), lr=tcfg["lr"], weight_decay=tcfg["weight_decay"]
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
            batches = splits["train"].shuffled(generator)
            if self.corrupt is not None:  # the noise curriculum, severity ramping with progress
                progress = (epoch - 1) / tcfg["epochs"]
                batches = (
                    self.corrupt(b, progress, epoch * 10_000 + i) for i, b in enumerate(batches)
                )
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
                on_epoch_end(epoch)
        results = self._finish(ds, model, state, splits, writer)
        writer.close()
        return results

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
        fixed = tune_fixed_weights(
            model, dev_batches, ds.label_names, self.config["train"]["select_metric"]
        )
        agent = None
        if wants_agent_stage(self.config, model):
            agent = run_agent_stage(
                model, ds, splits["train"], self.config, self.run_dir, writer, self.progress
            )
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
        if fixed is not None:
            results["fixed_weights"] = fixed
        if agent is not None:
            results["agent"] = agent
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


def _without_device(config: dict) -> dict:
    """The config less `train.device` (where a run trains is not what it is)."""
    train = {k: v for k, v in config.get("train", {}).items() if k != "device"}
    return {**config, "train": train}


def _labelled_ids(d) -> list[str]:
    """Labelled utterance ids of a dialogue (the order predictions are produced in)."""
    return [u for u, y in zip(d.utterance_ids, d.labels, strict=True) if y >= 0]
