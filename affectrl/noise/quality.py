"""Label-free quality estimates per utterance and modality, for the fusion agent's state.

`QualityEstimator.fit(dataset)` learns clean statistics from the training split (no labels are
used); `estimator(batch)` returns float32 [B, T, M, K] with the K = len(QUALITY_CHANNELS)
channels below (0 at padding). z denotes features standardised with the training mean/std.

    missing            1 if the modality is absent (flagged in modality_mask, or all zeros), else 0
    degradation        estimated noise fraction N/(S+N) in [0, 1] (1 when missing): with
                       n = max(mean_d z_d^2 - 1, 0) the excess power over the clean training
                       level, degradation = n / (1 + n); on the scale of Cell.severity
    snr_db_est         estimated SNR in dB, 10*log10(1/n), clipped to [-30, 30] (-30 when
                       missing); replaced by a raw-audio estimate when one is given
    log_mahalanobis    log(D^2 / ref): D^2 = z' P z / d with P the Ledoit-Wolf precision of the
                       clean training features, ref its training median (about 0 when clean)
    context_deviation  log(dev / ref): dev = mean_d (z_t - mean of the other present utterances
                       of the dialogue)^2; high when an utterance does not fit its dialogue
    cross_modal        log(res / ref): res = mean_d (z_m - ridge prediction of z_m from the other
                       present modalities)^2; cross-modal disagreement in feature space
    entropy            predictive entropy of the modality's unimodal head / log C (0 if no head)
    head_disagreement  Jensen-Shannon divergence between this modality's head and the mean of
                       the other present modalities' heads, / log 2 (0 if no heads)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from sklearn.covariance import LedoitWolf

from ..data.batch import DialogueBatch, collate
from ..data.types import DialogueDataset
from ..io import atomic_write
from .feature import FeatureStats

QUALITY_CHANNELS = (
    "missing",
    "degradation",
    "snr_db_est",
    "log_mahalanobis",
    "context_deviation",
    "cross_modal",
    "entropy",
    "head_disagreement",
)
SNR_CLIP_DB = 30.0
RIDGE_LAMBDA = 10.0
EPS = 1e-8


def _subset_key(modality: str, others: tuple[str, ...]) -> str:
    return f"{modality}<-{'+'.join(others)}"


@dataclass
class QualityEstimator:
    """Clean-feature statistics for the quality channels (see the module docstring).

    stats: per-dimension mean/std of the clean training features.
    precision: modality -> [D, D] Ledoit-Wolf precision of the standardised features.
    ridge: "m<-a+b" -> [D_a + D_b + 1, D_m] ridge weights (last row: bias) predicting z_m from
        the concatenated z of the other modalities, one per non-empty subset of the others.
    ref: "m.<channel>" -> the channel's raw score's median on the clean training split.
    """

    stats: FeatureStats
    precision: dict[str, torch.Tensor]
    ridge: dict[str, torch.Tensor]
    ref: dict[str, float]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.precision)

    @classmethod
    def fit(cls, dataset: DialogueDataset, split: str = "train") -> QualityEstimator:
        batch = collate(list(dataset.dialogues(split)), dataset.modalities)
        stats = FeatureStats.from_batch(batch)
        est = cls(stats, {}, {}, {})
        z = {m: stats.standardise(m, batch.features[m]) for m in batch.modalities}
        present = batch.modality_mask & batch.utterance_mask.unsqueeze(-1)
        for i, m in enumerate(batch.modalities):
            zm = z[m][present[..., i]]
            lw = LedoitWolf().fit(zm.double().numpy())
            est.precision[m] = torch.from_numpy(lw.precision_).float()
            others = tuple(o for o in batch.modalities if o != m)
            for k in range(1, len(others) + 1):
                for subset in combinations(others, k):
                    idx = [batch.modalities.index(o) for o in subset]
                    rows = present[..., i] & present[..., idx].all(-1)
                    x = _with_bias(torch.cat([z[o][rows] for o in subset], -1)).double()
                    gram = x.T @ x + RIDGE_LAMBDA * torch.eye(x.shape[1], dtype=x.dtype)
                    weights = torch.linalg.solve(gram, x.T @ z[m][rows].double())
                    est.ridge[_subset_key(m, subset)] = weights.float()
        raw = est.raw_scores(batch)
        for i, m in enumerate(batch.modalities):
            for name, score in raw.items():
                valid = score[..., i] > 0
                est.ref[f"{m}.{name}"] = (
                    float(score[..., i][valid].median()) if valid.any() else 1.0
                )
        return est

    def raw_scores(self, batch: DialogueBatch) -> dict[str, torch.Tensor]:
        """Unnormalised scores [B, T, M] (0 where not computable): mahalanobis, context, cross."""
        present = self.present(batch)
        z = {m: self.stats.standardise(m, batch.features[m]) for m in batch.modalities}
        shape = present.shape
        out = {
            k: torch.zeros(shape) for k in ("log_mahalanobis", "context_deviation", "cross_modal")
        }
        for i, m in enumerate(batch.modalities):
            zm, here = z[m], present[..., i]
            d = zm.shape[-1]
            maha = torch.einsum("btd,de,bte->bt", zm, self.precision[m], zm) / d
            out["log_mahalanobis"][..., i] = torch.where(here, maha, 0.0)
            total = (zm * here.unsqueeze(-1)).sum(1, keepdim=True)  # [B, 1, D]
            count = here.sum(1, keepdim=True).unsqueeze(-1)  # [B, 1, 1]
            others_mean = (total - zm) / (count - 1).clamp_min(1)
            dev = (zm - others_mean).pow(2).mean(-1)
            out["context_deviation"][..., i] = torch.where(here & (count[..., 0] > 1), dev, 0.0)
            others = tuple(o for o in batch.modalities if o != m)
            # Largest subsets last, so they overwrite smaller ones where all their inputs exist.
            for k in range(1, len(others) + 1):
                for subset in combinations(others, k):
                    key = _subset_key(m, subset)
                    if key not in self.ridge:
                        continue
                    idx = [batch.modalities.index(o) for o in subset]
                    usable = here & present[..., idx].all(-1)
                    pred = _with_bias(torch.cat([z[o] for o in subset], -1)) @ self.ridge[key]
                    res = (zm - pred).pow(2).mean(-1)
                    out["cross_modal"][..., i] = torch.where(
                        usable, res, out["cross_modal"][..., i]
                    )
        return out

    @staticmethod
    def present(batch: DialogueBatch) -> torch.Tensor:
        """bool [B, T, M]: real utterance, flagged present, and not all-zero features."""
        nonzero = torch.stack([(batch.features[m] != 0).any(-1) for m in batch.modalities], -1)
        return batch.modality_mask & batch.utterance_mask.unsqueeze(-1) & nonzero

    def __call__(
        self,
        batch: DialogueBatch,
        head_probs: dict[str, torch.Tensor] | None = None,
        raw_snr_db: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """float32 [B, T, M, K] quality channels (order QUALITY_CHANNELS).

        head_probs: optional modality -> unimodal class probabilities [B, T, C].
        raw_snr_db: optional [B, T, M] SNR estimates from the raw media (NaN = none), e.g.
            estimate_snr_db on the audio; they replace the feature-based snr_db_est/degradation.
        """
        unknown = [m for m in batch.modalities if m not in self.precision]
        if unknown:
            raise ValueError(f"quality estimator was fitted without modalities {unknown}")
        present = self.present(batch)
        real = batch.utterance_mask.unsqueeze(-1)
        q = torch.zeros(*present.shape, len(QUALITY_CHANNELS))
        ch = {name: i for i, name in enumerate(QUALITY_CHANNELS)}
        raw = self.raw_scores(batch)
        for i, m in enumerate(batch.modalities):
            z = self.stats.standardise(m, batch.features[m])
            live = self.stats.std[m] > 0
            excess = (z[..., live].pow(2).mean(-1) - 1).clamp_min(0)
            q[..., i, ch["degradation"]] = excess / (1 + excess)
            snr = 10 * torch.log10(1 / excess.clamp_min(EPS))
            q[..., i, ch["snr_db_est"]] = snr.clamp(-SNR_CLIP_DB, SNR_CLIP_DB)
            for name, score in raw.items():
                ref = self.ref.get(f"{m}.{name}", 1.0)
                q[..., i, ch[name]] = torch.where(
                    score[..., i] > 0, torch.log(score[..., i].clamp_min(EPS) / ref), 0.0
                )
        if raw_snr_db is not None:
            given = ~torch.isnan(raw_snr_db)
            snr = raw_snr_db.nan_to_num(0.0).clamp(-SNR_CLIP_DB, SNR_CLIP_DB)
            q[..., ch["snr_db_est"]] = torch.where(given, snr, q[..., ch["snr_db_est"]])
            deg = 1 / (1 + 10 ** (snr / 10))
            q[..., ch["degradation"]] = torch.where(given, deg, q[..., ch["degradation"]])
        if head_probs:
            self._head_channels(q, batch, head_probs, present, ch)
        missing = real & ~present
        q[..., ch["missing"]] = missing.float()
        q[..., ch["degradation"]] = q[..., ch["degradation"]].masked_fill(missing, 1.0)
        q[..., ch["snr_db_est"]] = q[..., ch["snr_db_est"]].masked_fill(missing, -SNR_CLIP_DB)
        for name in QUALITY_CHANNELS[3:]:
            q[..., ch[name]] = q[..., ch[name]].masked_fill(missing, 0.0)
        return q * real.unsqueeze(-1)

    def _head_channels(self, q, batch, head_probs, present, ch) -> None:
        probs = {m: p.clamp_min(EPS) for m, p in head_probs.items()}
        for i, m in enumerate(batch.modalities):
            if m not in probs:
                continue
            p = probs[m]
            q[..., i, ch["entropy"]] = -(p * p.log()).sum(-1) / math.log(p.shape[-1])
            others = [(j, o) for j, o in enumerate(batch.modalities) if o != m and o in probs]
            if not others:
                continue
            w = torch.stack([present[..., j].float() for j, _ in others], -1)  # [B, T, O]
            stacked = torch.stack([probs[o] for _, o in others], -2)  # [B, T, O, C]
            mean = (stacked * w.unsqueeze(-1)).sum(-2) / w.sum(-1, keepdim=True).clamp_min(1)
            mid = 0.5 * (p + mean.clamp_min(EPS))
            js = 0.5 * (_kl(p, mid) + _kl(mean.clamp_min(EPS), mid)) / math.log(2)
            q[..., i, ch["head_disagreement"]] = torch.where(w.sum(-1) > 0, js, 0.0)

    def save(self, path: str | Path) -> Path:
        tensors = {f"mean.{m}": v for m, v in self.stats.mean.items()}
        tensors |= {f"std.{m}": v for m, v in self.stats.std.items()}
        tensors |= {f"precision.{m}": v for m, v in self.precision.items()}
        tensors |= {f"ridge.{k}": v for k, v in self.ridge.items()}
        tensors |= {f"ref.{k}": torch.tensor(v) for k, v in self.ref.items()}
        return atomic_write(path, lambda p: save_file(tensors, str(p)))

    @classmethod
    def load(cls, path: str | Path) -> QualityEstimator:
        t = load_file(str(path))

        def group(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1 :]: v for k, v in t.items() if k.startswith(prefix + ".")}

        stats = FeatureStats(group("mean"), group("std"))
        ref = {k: float(v) for k, v in group("ref").items()}
        return cls(stats, group("precision"), group("ridge"), ref)


def _with_bias(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype)], -1)


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p.log() - q.log())).sum(-1)


def estimate_snr_db(
    wave: np.ndarray, sr: int, frame_ms: float = 20.0, quantile: float = 0.1
) -> float:
    """Blind SNR estimate of a speech waveform in dB (no clean reference).

    The noise power is the mean power of the quietest `quantile` of `frame_ms` frames (pauses
    carry only noise); SNR = 10*log10((P_total - P_noise) / P_noise), clipped to [-30, 60].
    """
    wave = np.asarray(wave, np.float64)
    frame = max(1, round(frame_ms * sr / 1000))
    n = len(wave) // frame
    if n < 2:
        raise ValueError(f"waveform too short for SNR estimation ({len(wave)} samples)")
    powers = np.sort(np.mean(wave[: n * frame].reshape(n, frame) ** 2, axis=1))
    p_noise = powers[: max(1, int(quantile * n))].mean()
    p_total = powers.mean()
    if p_noise <= 0:
        return 60.0
    return float(np.clip(10 * np.log10(max(p_total - p_noise, 1e-12) / p_noise), -30.0, 60.0))
