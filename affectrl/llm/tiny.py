"""A tiny randomly initialised causal LM with a tokenizer trained on the spot (nothing downloaded).

For smoke tests and benchmarks of the GRPO recipe on CPU: `make_tiny_model(folder)` writes a
2-layer Llama (hidden size 32) and a word-level tokenizer with a minimal chat template, in the
`save_pretrained` layout that `affectrl llm grpo --model` reads. Needs the `llm` extra.

A random model never writes `<answer>` tags, so every reward would be 0, every GRPO advantage 0
and nothing would train. Like R1-Omni's cold start (supervised fine-tuning before RLVR), the
model is first fitted for `cold_start_steps` full-batch Adam steps on formatted answers
(`COLD_START`), after which its samples follow the format with varying labels and the rewards
vary within a group.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<unk>", "<pad>", "<bos>", "<eos>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)
EMOTIONS = ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear", "angry", "calm"]
# Prompts of real datasets are mostly <unk> to this vocabulary: the cold start shows the format
# after unknown-word prefixes of several lengths, so the model learns to look past them.
COLD_START = [
    f"system : {'<unk> ' * n}user : {'<unk> ' * n}which emotion ? assistant : "
    f"<think> the speaker sounds {e} </think> <answer> {e} </answer> <eos>"
    for n in (0, 20, 40, 60)
    for e in EMOTIONS
]


def make_tokenizer(corpus: Iterable[str] = ()) -> Any:
    """A word-level `PreTrainedTokenizerFast` on `COLD_START` + `corpus`, with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS)
    backend.train_from_iterator([*COLD_START, *corpus], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_tiny_model(
    folder: str | Path,
    corpus: Iterable[str] = (),
    seed: int = 0,
    layers: int = 2,
    cold_start_steps: int = 60,
) -> Path:
    """Write a tiny Llama + word-level tokenizer to `folder`; returns the folder.

    The tokenizer's vocabulary is the words of `COLD_START` plus `corpus` (others map to <unk>).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    tokenizer = make_tokenizer(corpus)
    config = LlamaConfig(
        vocab_size=max(tokenizer.get_vocab().values()) + 1,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    batch = tokenizer(COLD_START, return_tensors="pt", padding=True)
    ignored = (batch["attention_mask"] == 0) | (batch["input_ids"] == tokenizer.unk_token_id)
    labels = batch["input_ids"].masked_fill(ignored, -100)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(cold_start_steps):
        optimiser.zero_grad()
        model(**batch, labels=labels).loss.backward()
        optimiser.step()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


CHATML_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def write_tiny_gguf(path: str | Path, seed: int = 0, layers: int = 2, hidden: int = 32) -> Path:
    """A tiny random Llama as an F32 GGUF file, in llama.cpp's layout (for tests of the import).

    Byte-level BPE over the 256 byte symbols plus `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`
    (control tokens) and one merge; a ChatML chat template, as SmolLM2 has. Needs `gguf`.
    """
    import gguf
    import numpy as np
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = [*specials, *bytes_to_unicode().values(), "Ġt"]
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    heads, kv_heads, ffn = 4, 2, 2 * hidden
    head_dim = hidden // heads
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    path = Path(path)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(1024)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)
    writer.add_tensor("token_embd.weight", weight(len(tokens), hidden))
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    for b in range(layers):
        for name, shape in {
            "attn_norm": None,
            "ffn_norm": None,
            "attn_q": (hidden, hidden),
            "attn_k": (kv_heads * head_dim, hidden),
            "attn_v": (kv_heads * head_dim, hidden),
            "attn_output": (hidden, hidden),
            "ffn_gate": (ffn, hidden),
            "ffn_up": (ffn, hidden),
            "ffn_down": (hidden, ffn),
        }.items():
            value = np.ones(hidden, dtype=np.float32) if shape is None else weight(*shape)
            writer.add_tensor(f"blk.{b}.{name}.weight", value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
