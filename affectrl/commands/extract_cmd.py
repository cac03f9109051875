"""`affectrl extract DATASET... --modality M --encoder NAME`: features into the feature store."""

from __future__ import annotations

import argparse

import yaml

from ..data.registry import load_dataset
from ..device import DEVICE_HELP, check_device_name
from ..features.encoders import DEFAULT_ENCODERS, HELP
from ..features.extract import extract_modality
from ..features.templates import build_template

EPILOG = "encoders (all frozen, loaded from installed packages or local files, never downloaded):\n"
EPILOG += "\n".join(f"  {name:14s} {text}" for name, text in HELP.items())
EPILOG += """
  visual options after '?', joined by '&': frames=N (evenly sampled, default 8),
  crop=none|center|X,Y,W,H (face box in pixels), size=PX (default 112), pool=mean|max

Features go to $AFFECTRL_CACHE/features/<dataset>/<encoder>-<hash8>/ (default ./.cache),
keyed by the encoder's settings, each chunk by the inputs it encodes and checksummed; an
interrupted run resumes, a repeat run is a cache hit, a damaged chunk is re-encoded.
examples:
  affectrl extract iemocap6 meld7 mosi                       # MiniLM text embeddings
  affectrl extract ravdess --modality audio                  # eGeMAPS, 88-d
  affectrl extract byo:my_data --modality visual --encoder 'cnn:w.safetensors?frames=4&crop=center'
  affectrl extract iemocap6 --template '{name: context, past: 4}'  # a run's text_template
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="extract frozen text/audio/visual features into the feature store",
        description="Extract utterance-level features with a frozen encoder and cache them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="registry name or byo:PATH")
    p.add_argument(
        "--modality", choices=sorted(DEFAULT_ENCODERS), default="text", help="default: text"
    )
    p.add_argument(
        "--encoder", help="encoder name (default: minilm for text, egemaps for audio; see below)"
    )
    p.add_argument(
        "--template",
        help="text template, as a run config's `text_template` (YAML: a name or a mapping, e.g. "
        "'{name: context, past: 4, future: 1}'; default: the utterance alone; docs/FEATURES.md)",
    )
    p.add_argument("--batch-size", type=_positive, help="texts per forward pass (speed only)")
    p.add_argument("--chunk-size", type=_positive, help="items per resumable chunk file")
    p.add_argument(
        "--device", default="auto", help=f"where torch encoders run: {DEVICE_HELP} (default: auto)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_extract)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def cmd_extract(args: argparse.Namespace) -> int:
    check_device_name(args.device, "--device")
    encoder = args.encoder or DEFAULT_ENCODERS[args.modality]
    if encoder is None:
        raise ValueError(f"--encoder is required for {args.modality} (e.g. cnn:PATH)")
    template = None
    if args.template is not None:
        if args.modality != "text":
            raise ValueError("--template is for text (--modality text)")
        template = build_template(yaml.safe_load(args.template))
    for name in args.datasets:
        ds = load_dataset(name)
        result = extract_modality(
            ds,
            args.modality,
            encoder,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            progress=not args.no_progress,
            device=args.device,
            template=template,
        )
        n, dim = result.features.shape
        print(f"{ds.name}: {n} utterances x {dim} dims ({args.modality}, {encoder})")
        print(f"  features: {result.folder}")
        if result.cache_hit:
            print(f"  cache hit: loaded {n} vectors in {result.seconds:.2f} s")
        else:
            rate = result.computed / max(result.seconds, 1e-9)
            print(
                f"  encoded {result.computed} (reused {result.reused}) in {result.seconds:.1f} s"
                f" = {rate:.1f} utterances/s"
            )
    return 0
