"""A trained run applied to data: per-utterance predictions with label names and probabilities.

`TrainedModel.load(run_dir)` reads a finished seed folder without its training data: the model
is rebuilt from `inputs.json` (label names, modalities and feature sizes, speaker numbering) and
`model.safetensors`; features of new data are extracted with the run's `features:` encoders and
z-scored with the run's saved `standardizer.safetensors` (for `standardize: true` configs; with
`standardize: speaker` each speaker by their own statistics in the data predicted), noise off.
The run's own dataset is split as the run split it (its cross-validation fold, its carved dev).
Folders from before 0.2.0 (no inputs.json) are rebuilt from their training dataset instead.

The prediction table has one row per utterance:

    split, dialogue_id, utterance_id, speaker   where the utterance comes from
    gold                                        gold label name ("" when unlabelled)
    pred                                        predicted label name (arg-max of the logits)
    p_<label>                                   class probabilities (softmax), summing to 1
    weight_<modality>                           fusion weights, for fusions that weigh modalities
                                                (the fusion agent, fixed, attention, gated, late)
    edges                                       models with a context graph (COGMEN, the graph
                                                agent): the edges kept into this utterance,
                                                [[source utterance_id, weight], ...] (JSON in CSV)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.byo import dataset_from_table, read_table_file
from ..data.errors import DataError
from ..data.types import SPLITS, Dialogue, DialogueDataset
from ..data.validate import label_index
from ..device import module_device, resolve_device
from ..io import atomic_write, write_json
from ..models.graph import ContextGraph
from .data import Batches, Standardizer, attach_configured_features, dataset_for, standardizer

INPUTS_FILE = "inputs.json"
STANDARDIZER_FILE = "standardizer.safetensors"


@dataclass
class ModelInputs:
    """What a trained model reads, saved in its run folder as inputs.json.

    label_names: the C classes (logit k = label_names[k]); modalities: in the batch's order;
    feature_dims: modality -> D_m; num_speakers: S of the model's speaker relations;
    speaker_vocab: dataset-wide speaker numbering, or None (by first appearance per dialogue).
    """

    label_names: list[str]
    modalities: list[str]
    feature_dims: dict[str, int]
    num_speakers: int
    speaker_vocab: dict[str, int] | None

    @classmethod
    def of(cls, ds: DialogueDataset, modalities: Sequence[str]) -> ModelInputs:
        dims = ds.feature_dims()
        return cls(
            list(ds.label_names),
            list(modalities),
            {m: dims[m] for m in modalities},
            ds.num_speakers,
            ds.speaker_vocab(),
        )

    def save(self, run_dir: Path) -> None:
        write_json(run_dir / INPUTS_FILE, self.__dict__)

    @classmethod
    def load(cls, run_dir: Path) -> ModelInputs:
        return cls(**json.loads((run_dir / INPUTS_FILE).read_text()))

    def check(self, ds: DialogueDataset, dialogues: Sequence[Dialogue]) -> None:
        """Refuse data the model cannot read: missing modalities, other feature sizes, speakers
        outside the trained numbering. Errors name the dataset and dialogue."""
        where = ds.source[0] if ds.source else ds.name
        for d in dialogues:
            for m in self.modalities:
                if m not in d.features:
                    raise ValueError(
                        f"{where}: dialogue {d.id!r} has no {m} features; the model reads "
                        f"{self.modalities} (extracted by the run's `features:` encoders)"
                    )
                if d.features[m].shape[1] != self.feature_dims[m]:
                    raise ValueError(
                        f"{where}: {m} features of dialogue {d.id!r} have "
                        f"{d.features[m].shape[1]} dims; the model was trained on "
                        f"{self.feature_dims[m]}"
                    )
            if self.speaker_vocab is not None:
                unknown = sorted(set(d.speakers) - set(self.speaker_vocab))
                if unknown:
                    raise ValueError(
                        f"{where}: dialogue {d.id!r} has speakers {unknown} the model does not "
                        f"know; it numbers speakers dataset-wide: {sorted(self.speaker_vocab)}"
                    )
            elif len(set(d.speakers)) > self.num_speakers:
                raise ValueError(
                    f"{where}: dialogue {d.id!r} has {len(set(d.speakers))} speakers; the "
                    f"model was trained with at most {self.num_speakers} per dialogue"
                )


def save_run_inputs(run_dir: Path, inputs: ModelInputs, transform: Any) -> None:
    """inputs.json, and standardizer.safetensors when the run z-scores its inputs."""
    inputs.save(run_dir)
    if isinstance(transform, Standardizer):
        transform.save(run_dir / STANDARDIZER_FILE)


def prediction_table(
    model: torch.nn.Module,
    batches: Iterable,
    dialogues: dict[str, Dialogue],
    label_names: Sequence[str],
    gold_names: Sequence[str],
    split: str,
) -> pd.DataFrame:
    """One row per utterance of `batches` (see the module docstring), the model in eval mode
    on its own device. dialogues: id -> Dialogue (ids, speakers, gold); gold_names: the
    dataset's label vocabulary (gold k = gold_names[k])."""
    device = module_device(model)
    graphs = [m for m in model.modules() if isinstance(m, ContextGraph)]
    seen: list = []
    hook = graphs[0].register_forward_hook(lambda *a: seen.append(a[2])) if graphs else None
    rows: list[dict[str, Any]] = []
    model.eval()
    try:
        with torch.inference_mode():
            for batch in batches:
                seen.clear()
                out = model(batch.to(device))
                edges = _incoming_edges(seen[-1], batch) if seen else None
                rows += _rows(out, batch, edges, dialogues, label_names, gold_names, split)
    finally:
        if hook is not None:
            hook.remove()
    return pd.DataFrame(rows)


def _incoming_edges(graph_edges, batch) -> list[list[tuple[int, float]]]:
    """Per flat node (real utterance): [(source flat node, weight), ...] in source order."""
    src, dst = graph_edges.edge_index.cpu()
    weight = graph_edges.edge_weight
    weight = torch.ones(src.shape[0]) if weight is None else weight.float().cpu()
    into: list[list[tuple[int, float]]] = [[] for _ in range(int(batch.utterance_mask.sum()))]
    for s, t, w in sorted(zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True)):
        into[t].append((s, w))
    return into


def _rows(out, batch, edges, dialogues, label_names, gold_names, split) -> list[dict[str, Any]]:
    probs = torch.softmax(out.logits.float(), -1).cpu().numpy()
    pred = out.logits.argmax(-1).cpu().numpy()
    weights = out.weights.float().cpu().numpy() if out.weights is not None else None
    where = [
        (dialogues[batch.dialogue_ids[b]], t) for b, t in batch.utterance_mask.nonzero().tolist()
    ]
    uids = [d.utterance_ids[t] for d, t in where]
    rows = []
    for n, (d, t) in enumerate(where):
        gold = int(d.labels[t])
        row = {
            "split": split,
            "dialogue_id": d.id,
            "utterance_id": uids[n],
            "speaker": d.speakers[t],
            "gold": gold_names[gold] if gold >= 0 else "",
            "pred": label_names[pred[n]],
        }
        row |= {f"p_{c}": float(p) for c, p in zip(label_names, probs[n], strict=True)}
        if weights is not None:
            row |= {
                f"weight_{m}": float(w) for m, w in zip(batch.modalities, weights[n], strict=True)
            }
        if edges is not None:
            row["edges"] = [[uids[s], round(w, 6)] for s, w in edges[n]]
        rows.append(row)
    return rows


def check_output_path(path: str | Path) -> Path:
    """`path` if it names a .csv or .jsonl file (checked before anything is computed)."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise ValueError(f"{path}: predictions are written as .csv or .jsonl")
    return path


def write_predictions(table: pd.DataFrame, path: str | Path) -> Path:
    """The table as .csv (edges as JSON text) or .jsonl (one object per utterance), atomically."""
    path = check_output_path(path)
    if path.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(r) + "\n" for r in table.to_dict("records"))
    else:
        flat = table.copy()
        if "edges" in flat:
            flat["edges"] = [json.dumps(e) for e in flat["edges"]]
        text = flat.to_csv(index=False)
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


class TrainedModel:
    """A finished run ready to predict (the scikit-learn / SB3 `load(...).predict(...)` shape).

    Attributes: run_dir, config (the resolved config it was trained with), model (eval mode, on
    `device`), inputs (`ModelInputs`), transform (the run's input standardisation or identity).
    """

    def __init__(self, run_dir, config, model, inputs: ModelInputs, transform, device):
        self.run_dir, self.config, self.model = Path(run_dir), config, model
        self.inputs, self.transform, self.device = inputs, transform, device

    @property
    def label_names(self) -> list[str]:
        return self.inputs.label_names

    @classmethod
    def load(cls, run_dir: str | Path, device: str | None = None) -> TrainedModel:
        """A finished seed folder (runs/<name>/seed-<k>, or runs/<name> with one seed).
        device: auto | cpu | cuda[:N] (default: auto)."""
        from ..models import build_model
        from .checkpoint import load_weights
        from .run_folder import WEIGHTS, read_config

        run_dir = _one_seed_dir(Path(run_dir))
        target = resolve_device(device or "auto", "device")
        config = read_config(run_dir)
        if not (run_dir / INPUTS_FILE).is_file():  # a run from before 0.2.0
            return cls._from_training_data(run_dir, target)
        inputs = ModelInputs.load(run_dir)
        dims = {m: inputs.feature_dims[m] for m in inputs.modalities}  # in the batch's order
        model = build_model(config["model"], dims, len(inputs.label_names), inputs.num_speakers)
        model = model.to(target)  # first: the agent's quality estimator follows the model
        model.load_state_dict(load_weights(run_dir / WEIGHTS)[0])
        for part in model.parts():  # e.g. a trained fusion agent decides again
            part.restore(run_dir)
        std = run_dir / STANDARDIZER_FILE
        transform = Standardizer.load(std) if std.is_file() else _identity
        return cls(run_dir, config, model.eval(), inputs, transform, target)

    @classmethod
    def _from_training_data(cls, run_dir: Path, device) -> TrainedModel:
        from .run_folder import load_run

        run = load_run(run_dir, device=str(device))
        train = run.splits["train"]
        inputs = ModelInputs.of(run.dataset, list(train.modalities))
        return cls(run_dir, run.config, run.model, inputs, train.transform, device)

    def _transform_for(self, ds: DialogueDataset):
        """The run's input transform for `ds`: the saved train-split standardiser, or for
        `standardize: speaker` each speaker's own statistics in `ds` (label-free, as in
        training), or none."""
        if self.config.get("standardize") == "speaker":
            return standardizer(ds, self.inputs.modalities, "speaker")
        return self.transform

    def prepare(self, data: str | DialogueDataset, progress: bool = False) -> DialogueDataset:
        """A dataset (name, `byo:PATH` or a DialogueDataset) with the run's features attached
        (extracted on the model's device, or found in the feature store)."""
        from ..data.registry import load_dataset

        if data == self.config["dataset"]:  # the run's own data, split as the run split it
            return dataset_for(self.config, str(self.device))
        ds = load_dataset(data) if isinstance(data, str) else data
        encoders = self.config.get("features") or {}
        used = {m: e for m, e in encoders.items() if m in self.inputs.modalities}
        return attach_configured_features(
            ds,
            used,
            device=str(self.device),
            progress=progress,
            text_template=self.config.get("text_template"),
        )

    def predict(
        self,
        data: str | DialogueDataset | Sequence[Dialogue | dict],
        split: str | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Predictions per utterance (see the module docstring) for a dataset name, `byo:PATH`,
        a DialogueDataset, or a list of dialogues (`Dialogue` objects or dicts, see
        `dialogues_dataset`); split: one split (default: every split the data has)."""
        if not isinstance(data, (str, DialogueDataset)):
            data = dialogues_dataset(data, self.label_names)
        ds = self.prepare(data, progress=progress)
        splits = [split] if split else [s for s in SPLITS if ds.splits.get(s)]
        if not splits:
            raise ValueError(f"dataset {ds.name!r} has no dialogues")
        tables = []
        for s in splits:
            batches = Batches(
                ds,
                s,
                self.inputs.modalities,
                batch_size or int(self.config["train"]["batch_size"]),
                self._transform_for(ds),
                speaker_vocab=self.inputs.speaker_vocab,
            )
            self.inputs.check(ds, batches.dialogues)
            by_id = {d.id: d for d in batches.dialogues}
            tables.append(
                prediction_table(
                    self.model, batches.in_order(), by_id, self.label_names, ds.label_names, s
                )
            )
        return pd.concat(tables, ignore_index=True)


def _identity(batch):
    return batch


def _one_seed_dir(run_dir: Path) -> Path:
    """The one finished seed folder that `run_dir` is or holds."""
    from .run_folder import WEIGHTS, seed_dirs

    seeds = [p for p in seed_dirs(run_dir) if (p / WEIGHTS).is_file()]
    if len(seeds) != 1:
        found = ", ".join(p.name for p in seeds) or "none finished"
        raise FileNotFoundError(f"{run_dir}: give one finished seed folder (found: {found})")
    return seeds[0]


def load_model(run_dir: str | Path, device: str | None = None) -> TrainedModel:
    """A finished run folder (runs/<name>/seed-<k>, or runs/<name> holding one seed) ready to
    predict; device: auto (default) | cpu | cuda | cuda:N. See `TrainedModel`."""
    return TrainedModel.load(run_dir, device=device)


def dialogues_dataset(
    dialogues: Sequence[Dialogue | dict], label_names: Sequence[str], name: str = "new-dialogues"
) -> DialogueDataset:
    """A one-split ("test") dataset of new dialogues. A dict holds `speakers` and `texts` (and
    optionally `id`, `utterance_ids`, `labels` as label names, `audio` as WAV paths)."""
    out = []
    for i, d in enumerate(dialogues):
        if isinstance(d, Dialogue):
            out.append(d)
            continue
        speakers = list(d["speakers"])
        gold = d.get("labels") or [""] * len(speakers)
        labels = [
            label_index(x, list(label_names), name, f"dialogue {i}") if x else -1 for x in gold
        ]
        media = {"audio": [str(p) for p in d["audio"]]} if d.get("audio") else {}
        out.append(
            Dialogue(
                id=str(d.get("id", f"dialogue_{i}")),
                speakers=speakers,
                labels=np.array(labels, dtype=np.int64),
                texts=list(d["texts"]) if d.get("texts") is not None else None,
                media=media,
                utterance_ids=d.get("utterance_ids"),
            )
        )
    return DialogueDataset(name, list(label_names), {"test": out})


def transcripts_dataset(path: str | Path, label_names: Sequence[str]) -> DialogueDataset:
    """A transcript table (.csv or .jsonl) as a one-split ("test") dataset: columns
    dialogue_id, speaker, text; optional utterance_id, order (default: the file's order within
    each dialogue) and label (gold label names of the run's vocabulary, "" = unknown)."""
    path = Path(path)
    table = read_table_file(path)
    missing = [c for c in ("dialogue_id", "speaker", "text") if c not in table.columns]
    if missing:
        raise DataError(path, f"missing columns {missing}; found {list(table.columns)}")
    if "order" not in table.columns:
        table["order"] = table.groupby("dialogue_id", sort=False).cumcount().astype(str)
    if "label" not in table.columns:
        table["label"] = ""
    table["split"] = "test"
    return dataset_from_table(table, path, list(label_names), name=f"predict-{path.stem}")


def wav_dataset(paths: Sequence[str | Path], label_names: Sequence[str]) -> DialogueDataset:
    """WAV files (or folders of them) as a one-split ("test") dataset: the files of one folder
    are one dialogue in name order, spoken by one speaker named after the folder; utterance id =
    file stem (unlabelled)."""
    files: list[Path] = []
    for p in map(Path, paths):
        found = sorted(p.glob("*.wav")) if p.is_dir() else [p]
        if not found:
            raise DataError(p, "no .wav files in this folder")
        files += found
    for f in files:
        if not f.is_file():
            raise DataError(f, "file not found")
    by_folder: dict[Path, list[Path]] = {}
    for f in files:
        by_folder.setdefault(f.resolve().parent, []).append(f)
    dialogues = [
        Dialogue(
            id=folder.name,
            speakers=[folder.name] * len(group),
            labels=np.full(len(group), -1, dtype=np.int64),
            media={"audio": [str(f) for f in group]},
            utterance_ids=[f"{folder.name}/{f.stem}" for f in group],
        )
        for folder, group in by_folder.items()
    ]
    source = [str(files[0].parent)] if files else []
    return DialogueDataset("predict-wav", list(label_names), {"test": dialogues}, source=source)
