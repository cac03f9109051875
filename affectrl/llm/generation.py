"""Batched generation for evaluation (`affectrl llm generate`): prompts → a predictions JSONL.

Each prompt row (`affectrl.llm.prompts.build_prompts`) gets one completion from a local model
folder, greedy by default; the output file has one JSON object per prompt, in prompt order:

    {"index": 0, "utterance_id": "...", "answer": "anger", "completion": "<think>…"}

which `affectrl llm eval --predictions` scores. Prompts are batched by token length (little
padding, left-padded), and every finished batch is appended to `<output>.partial` at once, so an
interrupted run continues where it stopped (rows already there are not generated again); the
output file appears, atomically, when every prompt has its completion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import DataError
from ..io import atomic_write
from .prompts import flatten_prompt


@dataclass(frozen=True)
class GenerationSettings:
    """How completions are generated.

    Attributes:
        max_new_tokens: tokens generated per prompt at most.
        batch_size: prompts per `generate` call.
        temperature: 0 = greedy (deterministic); above 0 samples, seeded with `seed`.
        bf16: run the model in bfloat16 (about 2x faster prompts than float32 on CPUs with AMX
            or AVX512-BF16; greedy answers can differ from float32 ones where two tokens are
            nearly tied).
    """

    max_new_tokens: int = 32
    batch_size: int = 16
    temperature: float = 0.0
    seed: int = 0
    bf16: bool = False


def _read_partial(path: Path, rows: Sequence[Mapping[str, Any]]) -> dict[int, dict]:
    """The records already generated, checked against the prompts they claim to answer."""
    done: dict[int, dict] = {}
    if not path.is_file():
        return done
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut by an interruption: it and anything after are generated again
        i = record.get("index")
        if not isinstance(i, int) or not 0 <= i < len(rows):
            raise DataError(path, f"index {i!r} is not one of the {len(rows)} prompts", line_number)
        if record.get("utterance_id") != rows[i].get("utterance_id"):
            raise DataError(
                path, "written for other prompts (utterance ids differ); delete it", line_number
            )
        done[i] = record
    return done


def prompt_texts(tokenizer: Any, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each row's prompt as the model sees it (chat template with the generation prompt)."""
    texts = []
    for row in rows:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            texts.append(prompt)
        elif tokenizer.chat_template:
            texts.append(
                tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            )
        else:
            texts.append(flatten_prompt(prompt))
    return texts


def generate_predictions(
    model_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    output: str | Path,
    settings: GenerationSettings = GenerationSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write `output` (module docstring); returns {"generated", "reused", "seconds", ...}.

    `progress(done, total)` is called after every batch.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from .training import check_model_folder, load_tokenizer

    check_model_folder(model_dir)
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    done = _read_partial(partial, rows)
    reused = len(done)
    tokenizer = load_tokenizer(str(model_dir))
    tokenizer.padding_side = "left"
    todo = [i for i in range(len(rows)) if i not in done]
    t0 = time.perf_counter()
    new_tokens = 0
    if todo:
        dtype = torch.bfloat16 if settings.bf16 else torch.float32
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, dtype=dtype
        ).eval()
        model.to(device)
        texts = prompt_texts(tokenizer, rows)
        lengths = {i: len(tokenizer(texts[i], add_special_tokens=False)["input_ids"]) for i in todo}
        todo.sort(key=lambda i: lengths[i])
        sample = settings.temperature > 0
        partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("a", encoding="utf-8") as sink:
            for start in range(0, len(todo), settings.batch_size):
                chunk = todo[start : start + settings.batch_size]
                batch = tokenizer(
                    [texts[i] for i in chunk],
                    return_tensors="pt",
                    padding=True,
                    add_special_tokens=False,
                ).to(device)
                torch.manual_seed(settings.seed + start)
                with torch.no_grad():
                    out = model.generate(
                        **batch,
                        max_new_tokens=settings.max_new_tokens,
                        do_sample=sample,
                        temperature=settings.temperature if sample else None,
                        top_p=None,
                        top_k=None,
                        pad_token_id=tokenizer.pad_token_id,
                    )
                generated = out[:, batch["input_ids"].shape[1] :].cpu()
                for i, ids in zip(chunk, generated, strict=True):
                    keep = ids[ids != tokenizer.pad_token_id]
                    new_tokens += int(keep.numel())
                    record = {
                        "index": i,
                        "utterance_id": rows[i].get("utterance_id"),
                        "answer": rows[i]["answer"],
                        "completion": tokenizer.decode(ids, skip_special_tokens=True),
                    }
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                    done[i] = record
                sink.flush()
                if progress:
                    progress(len(done), len(rows))
    text = "".join(json.dumps(done[i], ensure_ascii=False) + "\n" for i in range(len(rows)))
    atomic_write(output, lambda p: p.write_text(text, encoding="utf-8"))
    partial.unlink(missing_ok=True)
    return {
        "generated": len(todo),
        "reused": reused,
        "seconds": time.perf_counter() - t0,
        "new_tokens": new_tokens,
        "output": str(output),
    }
