"""Label-free quality estimates per utterance and modality, for the fusion agent's state.

`QualityEstimator.fit(dataset)` learns from the clean training split without emotion labels;
`estimator(batch)` returns float32 [B, T, M, K] with the K = len(QUALITY_CHANNELS) channels
below (0 at padding). z denotes features standardised with the training mean/std.

    missing            1 if the modality is absent (flagged in modality_mask, or all zeros), else 0
    degradation        estimated noise fraction N/(S+N) in [0, 1] (1 when missing): with
                       n = max(mean_d z_d^2 - 1, 0) the excess power over the clean training
                       level (which is 1 by construction), degradation = n / (1 + n); on the
                       scale of Cell.severity
    snr_db_est         estimated SNR in dB, 10*log10(1/n), clipped to [-30, 30] (-30 when
                       missing); replaced by a raw-media estimate when one is given
    log_mahalanobis    log(D^2 / ref): D^2 = z' P z / d with P the Ledoit-Wolf precision of the
                       clean training features, ref its training median (about 0 when clean)
    context_deviation  log(dev / ref): dev = mean_d (z_t - mean of the other present utterances
                       of the dialogue)^2, ref its training median; high when an utterance does
                       not fit its dialogue (another speaker's voice or face)
    mismatch           logit that the modality's features do not belong to this utterance:
                       a small MLP per modality (MismatchDetector) over every modality's z and
                       its deviation from the dialogue context, trained self-supervised on the
                       training split with substituted utterances as positives (no labels);
                       the cross-modal disagreement signal for "plausible but wrong" inputs
    entropy            predictive entropy of the modality's unimodal head / log C (0 if no head)
    head_disagreement  Jensen-Shannon divergence between this modality's head and the mean of
                       the other present modalities' heads, / log 2 (0 if no heads)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from sklearn.covariance import LedoitWolf
from torch import nn

from ...data.batch import DialogueBatch, collate
from ...data.types import DialogueDataset
from ...noise.feature import FeatureStats, Missing, Substitute, kind_code
from ...noise.spec import derive_seed, snr_severity
from ...tensorfile import load_tensors, save_tensors

QUALITY_CHANNELS = (
    "missing",
    "degradation",
    "snr_db_est",
    "log_mahalanobis",
    "context_deviation",
    "mismatch",
    "entropy",
    "head_disagreement",
)
SNR_CLIP_DB = 30.0
EPS = 1e-8


def present_mask(batch: DialogueBatch) -> torch.Tensor:
    """bool [B, T, M]: real utterance, flagged present, and not all-zero features."""
    nonzero = torch.stack([(batch.features[m] != 0).any(-1) for m in batch.modalities], -1)
    return batch.modality_mask & batch.utterance_mask.unsqueeze(-1) & nonzero


def context_inputs(batch: DialogueBatch, stats: FeatureStats) -> dict[str, torch.Tensor]:
    """Per modality: z [B, T, D] (0 where absent) and z minus the mean z of the other present
    utterances of the same dialogue (0 where absent or alone)."""
    present = present_mask(batch)
    out = {}
    for i, m in enumerate(batch.modalities):
        here = present[..., i].unsqueeze(-1).float()
        z = stats.standardise(m, batch.features[m]) * here
        others = here.sum(1, keepdim=True) - here  # [B, T, 1]
        ctx = (z.sum(1, keepdim=True) - z) / others.clamp_min(1)
        out[m] = z
        out[f"{m}.dev"] = (z - ctx) * (others > 0) * here
    return out


class MismatchDetector(nn.Module):
    """Per modality m an MLP: [z_m', z_m' - context_m', present_m' for every m'] -> logit that
    m's features were substituted (do not belong with the others / the dialogue).

    Input width: sum_m (2 D_m + 1); hidden 64; trained by `fit` (self-supervised).
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64):
        super().__init__()
        self.dims = dict(dims)
        width = sum(2 * d + 1 for d in dims.values())
        self.heads = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 1)
                )
                for m in dims
            }
        )

    def inputs(self, batch: DialogueBatch, stats: FeatureStats) -> torch.Tensor:
        ctx = context_inputs(batch, stats)
        present = present_mask(batch).float()
        parts = []
        for i, m in enumerate(batch.modalities):
            parts += [ctx[m], ctx[f"{m}.dev"], present[..., i : i + 1]]
        return torch.cat(parts, -1)

    def forward(self, batch: DialogueBatch, stats: FeatureStats) -> torch.Tensor:
        """-> logits float [B, T, M] (order batch.modalities)."""
        x = self.inputs(batch, stats)
        return torch.cat([self.heads[m](x) for m in batch.modalities], -1)

    def fit(
        self,
        batch: DialogueBatch,
        stats: FeatureStats,
        steps: int = 300,
        draws: int = 16,
        seed: int = 0,
    ) -> MismatchDetector:
        """Train on `draws` corrupted copies of the clean batch per modality: half of m's
        utterances substituted (positives), and a random other modality partly missing in every
        second draw so the detector works when a modality is absent."""
        data = []
        for i, m in enumerate(batch.modalities):
            others = [o for o in batch.modalities if o != m]
            for k in range(draws):
                noisy = Substitute(m, fraction=0.5)(batch, derive_seed(seed, m, k))
                if others and k % 2:
                    other = others[k // 2 % len(others)]
                    noisy = Missing(other, fraction=0.5)(noisy, derive_seed(seed, m, k, "miss"))
                keep = present_mask(noisy)[..., i]
                target = noisy.corruption["kind"][..., i] == kind_code("substitute")
                data.append((self.inputs(noisy, stats)[keep], target[keep].float()))
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for p in self.parameters():  # deterministic init under the seed
                nn.init.normal_(p, std=0.05) if p.dim() > 1 else nn.init.zeros_(p)
            opt = torch.optim.Adam(self.parameters(), lr=1e-3, weight_decay=1e-3)
            self.train()
            for step in range(steps):
                loss = 0.0
                for m in batch.modalities:
                    x, y = data[batch.modalities.index(m) * draws + step % draws]
                    logit = self.heads[m](x).squeeze(-1)
                    loss = loss + nn.functional.binary_cross_entropy_with_logits(logit, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return self.eval()


@dataclass
class QualityEstimator:
    """Clean-data statistics and the mismatch detector behind the quality channels.

    stats: per-dimension mean/std of the clean training features.
    precision: modality -> [D, D] Ledoit-Wolf precision of the standardised features.
    ref: "m.<channel>" -> the channel's raw score's median on the clean training split.
    detector: the self-supervised MismatchDetector; None when fitted with steps=0, which is
        enough for `feature_power` / `excess_power` (what the fusion agent's "fast" state
        reads) but not for the full channels of `__call__`.
    """

    stats: FeatureStats
    precision: dict[str, torch.Tensor]
    ref: dict[str, float]
    detector: MismatchDetector | None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.precision)

    @cached_property
    def _packed_stats(self) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """For the modalities' features concatenated in `modalities` order: shift and scale
        [sum D] with (x * scale + shift)^2 = z^2 / (non-constant dimensions of the modality),
        0 on constant dimensions, and the modalities' widths."""
        widths = [len(self.stats.std[m]) for m in self.modalities]
        mean = torch.cat([self.stats.mean[m] for m in self.modalities])
        std = torch.cat([self.stats.std[m] for m in self.modalities])
        valid = (std > 0).float()
        count = torch.cat([v.sum().clamp_min(1).expand(len(v)) for v in valid.split(widths)])
        scale = valid / std.clamp_min(EPS) / count.sqrt()
        return -mean * scale, scale, widths

    def pack(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The modalities' features concatenated in `modalities` order: [..., sum D_m]."""
        return torch.cat([features[m] for m in self.modalities], -1)

    def feature_power(self, packed: torch.Tensor) -> torch.Tensor:
        """p = mean_d z_d^2 per utterance and modality [..., M] of packed features (`pack`):
        the power of the standardised features over the non-constant dimensions, 1 on clean
        training data by construction.

        The fusion agent computes this on every forward, so it is one pass over the
        concatenated features; the per-modality sums are split sums because a [sum D, M]
        matrix product is about 10x slower here for M = 3."""
        shift, scale, widths = self._packed_stats
        z2 = torch.addcmul(shift, packed, scale).square_()
        return torch.stack([part.sum(-1) for part in z2.split(widths, -1)], -1)

    def excess_power(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """n = max(p - 1, 0) per utterance and modality [B, T, M] (p: `feature_power`): the
        power above the clean training level; degradation = n / (1 + n)."""
        return (self.feature_power(self.pack(features)) - 1).clamp_min_(0)

    @classmethod
    def fit(
        cls,
        dataset: DialogueDataset,
        split: str = "train",
        steps: int = 300,
        draws: int = 16,
        seed: int = 0,
        transform: Callable[[DialogueBatch], DialogueBatch] | None = None,
    ) -> QualityEstimator:
        """Fit on the clean `split` (labels unused); `steps` and `draws` (corrupted copies per
        modality) train the mismatch detector (about 90% of the fitting time; steps=0: no
        detector, see `detector`). transform: the model's input transform (e.g. the run's
        standardisation), so the estimator reads features on the scale the model sees them."""
        batch = collate(list(dataset.dialogues(split)), dataset.modalities)
        if transform is not None:
            batch = transform(batch)
        stats = FeatureStats.from_batch(batch)
        present = present_mask(batch)
        precision = {}
        for i, m in enumerate(batch.modalities):
            z = stats.standardise(m, batch.features[m])[present[..., i]]
            precision[m] = torch.from_numpy(LedoitWolf().fit(z.double().numpy()).precision_).float()
        dims = {m: batch.features[m].shape[-1] for m in batch.modalities}
        detector = (
            MismatchDetector(dims).fit(batch, stats, steps=steps, draws=draws, seed=seed)
            if steps > 0
            else None
        )
        est = cls(stats, precision, {}, detector)
        for name, score in est._ratio_scores(batch).items():
            for i, m in enumerate(batch.modalities):
                valid = score[..., i] > 0
                est.ref[f"{m}.{name}"] = (
                    float(score[..., i][valid].median()) if valid.any() else 1.0
                )
        return est

    def _ratio_scores(self, batch: DialogueBatch) -> dict[str, torch.Tensor]:
        """Unnormalised positive scores [B, T, M] (0 where not computable)."""
        present = present_mask(batch)
        ctx = context_inputs(batch, self.stats)
        out = {
            k: torch.zeros(present.shape, device=present.device)
            for k in ("log_mahalanobis", "context_deviation")
        }
        for i, m in enumerate(batch.modalities):
            z = ctx[m]
            maha = torch.einsum("btd,de,bte->bt", z, self.precision[m], z) / z.shape[-1]
            out["log_mahalanobis"][..., i] = torch.where(present[..., i], maha, 0.0)
            out["context_deviation"][..., i] = ctx[f"{m}.dev"].pow(2).mean(-1)
        return out

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
        if unknown or tuple(batch.modalities) != self.modalities:
            raise ValueError(
                f"quality estimator was fitted on modalities {list(self.modalities)}, "
                f"batch has {list(batch.modalities)}"
            )
        if self.detector is None:
            raise ValueError(
                "this quality estimator was fitted without its mismatch detector (steps=0); "
                "the full quality channels need QualityEstimator.fit(..., steps > 0)"
            )
        present = present_mask(batch)
        real = batch.utterance_mask.unsqueeze(-1)
        ch = {name: k for k, name in enumerate(QUALITY_CHANNELS)}
        q = torch.zeros(*present.shape, len(QUALITY_CHANNELS), device=present.device)
        excess = self.excess_power(batch.features)
        q[..., ch["degradation"]] = excess / (1 + excess)
        snr = 10 * torch.log10(1 / excess.clamp_min(EPS))
        q[..., ch["snr_db_est"]] = snr.clamp(-SNR_CLIP_DB, SNR_CLIP_DB)
        for name, score in self._ratio_scores(batch).items():
            for i, m in enumerate(batch.modalities):
                ratio = score[..., i].clamp_min(EPS) / self.ref.get(f"{m}.{name}", 1.0)
                q[..., i, ch[name]] = torch.where(score[..., i] > 0, ratio.log(), 0.0)
        with torch.no_grad():
            q[..., ch["mismatch"]] = self.detector(batch, self.stats)
        if raw_snr_db is not None:
            given = ~torch.isnan(raw_snr_db)
            snr = raw_snr_db.nan_to_num(0.0).clamp(-SNR_CLIP_DB, SNR_CLIP_DB)
            q[..., ch["snr_db_est"]] = torch.where(given, snr, q[..., ch["snr_db_est"]])
            deg = snr_severity(snr)
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

    @staticmethod
    def _head_channels(q, batch, head_probs, present, ch) -> None:
        probs = {m: p.clamp_min(EPS) for m, p in head_probs.items()}
        for i, m in enumerate(batch.modalities):
            if m not in probs:
                continue
            p = probs[m]
            entropy = -(p * p.log()).sum(-1) / math.log(p.shape[-1])
            q[..., i, ch["entropy"]] = entropy.clamp(0, 1)
            others = [(j, o) for j, o in enumerate(batch.modalities) if o != m and o in probs]
            if not others:
                continue
            w = torch.stack([present[..., j].float() for j, _ in others], -1)  # [B, T, O]
            stacked = torch.stack([probs[o] for _, o in others], -2)  # [B, T, O, C]
            mean = (stacked * w.unsqueeze(-1)).sum(-2) / w.sum(-1, keepdim=True).clamp_min(1)
            mid = 0.5 * (p + mean.clamp_min(EPS))
            js = (0.5 * (_kl(p, mid) + _kl(mean.clamp_min(EPS), mid)) / math.log(2)).clamp(0, 1)
            q[..., i, ch["head_disagreement"]] = torch.where(w.sum(-1) > 0, js, 0.0)

    def to(self, device: torch.device | str) -> QualityEstimator:
        """This estimator with its tensors (statistics, precisions, detector) on `device`,
        where the model it feeds lives."""
        stats = FeatureStats(
            {m: v.to(device) for m, v in self.stats.mean.items()},
            {m: v.to(device) for m, v in self.stats.std.items()},
        )
        precision = {m: p.to(device) for m, p in self.precision.items()}
        detector = self.detector.to(device) if self.detector is not None else None
        return QualityEstimator(stats, precision, dict(self.ref), detector)

    def save(self, path: str | Path) -> Path:
        """One safetensors file (statistics, precisions, references, detector weights)."""
        tensors = {f"mean.{m}": v for m, v in self.stats.mean.items()}
        tensors |= {f"std.{m}": v for m, v in self.stats.std.items()}
        tensors |= {f"precision.{m}": v for m, v in self.precision.items()}
        tensors |= {f"ref.{k}": torch.tensor(v) for k, v in self.ref.items()}
        if self.detector is not None:
            tensors |= {f"detector.{k}": v for k, v in self.detector.state_dict().items()}
        meta = {"modalities": ",".join(self.modalities)}
        return save_tensors(path, tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> QualityEstimator:
        t, meta = load_tensors(path)
        order = meta["modalities"].split(",")

        def group(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1 :]: v for k, v in t.items() if k.startswith(prefix + ".")}

        precision = {m: group("precision")[m] for m in order}
        stats = FeatureStats(group("mean"), group("std"))
        detector = None
        if weights := group("detector"):
            detector = MismatchDetector({m: p.shape[0] for m, p in precision.items()})
            detector.load_state_dict(weights)
            detector.eval()
        ref = {k: float(v) for k, v in group("ref").items()}
        return cls(stats, precision, ref, detector)


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p.log() - q.log())).sum(-1)
