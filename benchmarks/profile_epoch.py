"""Where a training epoch's time goes, per part of the model (the breakdown in docs/PERFORMANCE.md).

    python benchmarks/profile_epoch.py [--config configs/iemocap6_text_cogmen.yaml] [--epochs 3]
        [--ops 25] [key=value overrides ...]

Trains `--epochs` epochs of the config in this process (one thread unless train.threads says
otherwise) and times, per epoch: collation, each part's forward and backward (the transformer
encoder, the projection, graph building, the RGCN, TransformerConv, BatchNorm + LeakyReLU, the
classifier, the loss), the optimizer step, and dev and test evaluation. A part's backward is
the time between the gradient reaching its output and leaving through its input (identity
autograd markers around each part; the CPU autograd engine runs one node at a time, so the
intervals do not overlap). Figures are process CPU seconds, the median over epochs after the
first (less inflated by other processes on a shared machine than wall time; wall time is
printed beside them). `--ops N` adds the torch profiler's N heaviest operators of one epoch.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.config import apply_overrides, load_config  # noqa: E402
from affectrl.train.trainer import Run, evaluate, resolve_config  # noqa: E402


class Clock:
    """Accumulates CPU and wall seconds per named part for the current epoch."""

    def __init__(self):
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)

    @staticmethod
    def now() -> tuple[float, float]:
        return time.process_time(), time.perf_counter()

    def add(self, name: str, since: tuple[float, float]) -> None:
        cpu, wall = self.now()
        self.cpu[name] += cpu - since[0]
        self.wall[name] += wall - since[1]


class _Marker(torch.autograd.Function):
    """Identity whose backward notes when the gradient passes (start or end of a part)."""

    @staticmethod
    def forward(ctx, x, event):
        ctx.event = event
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        ctx.event(Clock.now())
        return grad, None


class Backward:
    """Per part: when the gradient reached its output, and its backward seconds when it left."""

    def __init__(self, clock: Clock):
        self.clock, self.entered = clock, {}

    def mark_output(self, name, y):
        if not (torch.is_grad_enabled() and isinstance(y, torch.Tensor) and y.requires_grad):
            return y
        return _Marker.apply(y, lambda t: self.entered.__setitem__(name, t))

    def mark_input(self, name, x):
        if not (torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad):
            return x
        return _Marker.apply(x, lambda t: self.leave(name))

    def leave(self, name):
        if name in self.entered:
            self.clock.add(f"{name} backward", self.entered.pop(name))

    def finish(self):
        """Parts whose input needs no gradient (the first one) end with the backward pass."""
        for name in list(self.entered):
            self.leave(name)


def instrument(model, clock: Clock, backward: Backward) -> list:
    """Time each part of a COGMEN model: forward hooks on its modules, a wrapper around
    `encode` (a method). Returns what `uninstrument` needs to undo it."""
    context = model.context
    parts = {
        "projection": context.project,
        "graph building": context.graph,
        "RGCN": context.rgcn,
        "TransformerConv": context.gconv,
        "BatchNorm + LeakyReLU": context.norm,
        "classifier": model.classifier,
    }
    handles = []
    for name, module in parts.items():

        def before(module, args, name=name):
            module._profile_start = clock.now()
            return (backward.mark_input(name, args[0]), *args[1:])

        def after(module, args, out, name=name):
            clock.add(f"{name} forward", module._profile_start)
            return backward.mark_output(name, out) if isinstance(out, torch.Tensor) else out

        handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    encode = context.encode

    def timed_encode(x, mask):
        start = clock.now()
        out = encode(x, mask)
        clock.add("transformer encoder forward", start)
        return backward.mark_output("transformer encoder", out)

    context.encode = timed_encode
    return handles


def uninstrument(model, handles: list) -> None:
    for handle in handles:
        handle.remove()
    del model.context.encode


def train_epoch(model, optimizer, batches, clock, backward) -> None:
    model.train()
    batches = iter(batches)
    while True:
        start = clock.now()
        batch = next(batches, None)
        clock.add("collation", start)
        if batch is None:
            return
        start = clock.now()
        optimizer.zero_grad()
        clock.add("optimizer", start)
        out = model(batch)
        start = clock.now()
        loss = model.loss(out, batch)
        clock.add("loss forward", start)
        start = clock.now()
        loss.backward()
        backward.finish()
        clock.add("backward (all)", start)
        start = clock.now()
        optimizer.step()
        clock.add("optimizer", start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/iemocap6_text_cogmen.yaml")
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed (default 3)")
    parser.add_argument("--ops", type=int, default=0, help="also list the N heaviest operators")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.threads=2")
    args = parser.parse_args()
    config = resolve_config(apply_overrides(load_config(args.config), args.overrides), 1)
    run = Run(config, Path("runs/profile_epoch"), progress=False)
    ds, model, splits = run.build()
    train = config["train"]
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train["lr"], weight_decay=train["weight_decay"]
    )
    dev, test = splits["dev"].in_order(), splits["test"].in_order()
    epochs: list[Clock] = []
    for epoch in range(1, args.epochs + 2):  # the first epoch warms up and is not counted
        clock = Clock()
        backward = Backward(clock)
        handles = instrument(model, clock, backward)
        generator = torch.Generator().manual_seed(epoch)
        start = clock.now()
        train_epoch(model, optimizer, splits["train"].shuffled(generator), clock, backward)
        clock.add("training epoch", start)
        for name, batches in (("dev", dev), ("test", test)):
            start = clock.now()
            evaluate(model, batches, ds.label_names)
            clock.add(f"{name} evaluation", start)
        uninstrument(model, handles)
        if epoch > 1:
            epochs.append(clock)
    names = list(epochs[0].cpu)
    cpu = {n: statistics.median(c.cpu.get(n, 0.0) for c in epochs) for n in names}
    wall = {n: statistics.median(c.wall.get(n, 0.0) for c in epochs) for n in names}
    total = cpu["training epoch"]
    print(f"{'part':32s} {'CPU s':>8s} {'% train':>8s} {'wall s':>8s}")
    for n in names:
        print(f"{n:32s} {cpu[n]:8.3f} {100 * cpu[n] / total:8.1f} {wall[n]:8.3f}")
    if args.ops:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_epoch(
                model, optimizer, splits["train"].shuffled(generator), Clock(), Backward(Clock())
            )
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else []
    print(
        json.dumps(
            {
                "config": args.config,
                "epochs": args.epochs,
                "cpu_s": cpu,
                "wall_s": wall,
                "threads": torch.get_num_threads(),
                "loadavg": load,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
