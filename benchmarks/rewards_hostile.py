"""Hostile completions through the four verifiable rewards: time per megabyte, and linearity.

    python benchmarks/rewards_hostile.py [--megabytes 1] [--repeats 3]

Shapes that made the old parsing quadratic or costly (repeated tags for the lazy-regex format
check, a run of leading modifiers for `normalise_label`, tens of thousands of labels, a run of
whitespace between the blocks). Each is timed through format, accuracy, wheel and similarity
(best of `--repeats`, warm lexicon) at the full size and at a tenth of it: a linear parse gives a
ratio near 10, a quadratic one near 100. The baseline, measured in the same run, is the same
number of bytes as ordinary completions (~1 kB each, a batch). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.llm.rewards import REWARDS  # noqa: E402


def hostile(size: int) -> dict[str, str]:
    """Completions of about `size` characters, one per shape."""
    answer = "<think>the voice is raised</think><answer>{}</answer>"
    return {
        "repeated_tags": "<think>" + "</think><answer>" * (size // 16),
        "leading_modifiers": answer.format("very " * (size // 5) + "angry"),
        "many_labels": answer.format("angry, " * (size // 7)),
        "distinct_labels": answer.format(", ".join(f"w{i}" for i in range(size // 8))),
        "whitespace": "<think>x</think>" + " " * size + "<answer>anger</answer>",
    }


def seconds(completions: list[str], repeats: int) -> float:
    """Best wall time of all four rewards over `completions` (gold "anger" for each)."""
    gold = ["anger"] * len(completions)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for reward in REWARDS.values():
            reward(completions, answer=gold)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = int(args.megabytes * 1_000_000)
    seconds([hostile(1000)["many_labels"]], 1)  # load the lexicon
    ordinary = "<think>the speaker sounds tense and raises the voice</think><answer>anger</answer>"
    ordinary = ordinary + " " * (1000 - len(ordinary))
    baseline = seconds([ordinary] * (size // 1000), args.repeats)
    print(f"baseline: {size // 1000} ordinary 1 kB completions  {baseline:.3f} s")
    result: dict = {"megabytes": args.megabytes, "baseline_s": round(baseline, 4), "shapes": {}}
    small = hostile(size // 10)
    for name, completion in hostile(size).items():
        full = seconds([completion], args.repeats)
        tenth = seconds([small[name]], args.repeats)
        result["shapes"][name] = {
            "s": round(full, 4),
            "ratio_to_tenth": round(full / max(tenth, 1e-9), 1),
            "ratio_to_baseline": round(full / baseline, 2),
        }
        print(
            f"{name:18s} {len(completion) / 1e6:.2f} MB  {full:.3f} s  (x{full / tenth:.1f} "
            f"for 10x the size; {full / baseline:.2f} x baseline)"
        )
    result["max_s"] = max(s["s"] for s in result["shapes"].values())
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
