"""Emotion language models trained with verifiable rewards (RLVR).

Core (no optional packages needed): `lexicon` (emotion words → wheel categories), `parsing`
(`<think>…</think><answer>…</answer>` completions), `rewards` (TRL GRPOTrainer reward functions),
`metrics` (closed-set accuracy / weighted F1 and the open-vocabulary emotion-wheel metric),
`prompts` (dialogues → chat prompts). `grpo` needs the `llm` extra (trl, transformers, peft,
datasets) and imports it lazily. See docs/RLVR.md.
"""
