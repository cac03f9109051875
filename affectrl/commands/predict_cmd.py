"""`affectrl predict RUN_DIR --data NAME | --transcripts FILE | --wav FILE... --out FILE`."""

from __future__ import annotations

import argparse

from ..device import DEVICE_HELP

EPILOG = """\
output columns, one row per utterance:
  split, dialogue_id, utterance_id, speaker, gold (label name, "" when unknown), pred,
  p_<label> (class probabilities, summing to 1), weight_<modality> (fusion weights, for fusions
  that weigh modalities: the fusion agent, fixed, attention, gated, late), edges (for models
  with a context graph: [[source utterance_id, weight], ...] kept into the utterance)

The run's own preprocessing is applied: its `features:` encoders (cached in the feature store),
its saved standardisation (standardize: true), no noise.

examples:
  affectrl predict runs/iemocap6_text_cogmen/seed-1 --data iemocap6 --split test --out test.csv
  affectrl predict runs/my_text_run/seed-1 --data byo:new_dialogues --out preds.jsonl
  affectrl predict runs/my_text_run/seed-1 --transcripts chats.csv --out preds.csv
  affectrl predict runs/ravdess_audio/seed-1 --wav clips/ --out preds.csv
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="apply a trained run to a dataset, new transcripts or WAV files",
        description="Predict every utterance of new data with a finished run's model and write "
        "label names and class probabilities per utterance (CSV or JSONL).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="a finished seed folder (runs/<name>/seed-<k>)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="NAME", help="dataset name or byo:PATH")
    source.add_argument(
        "--transcripts",
        metavar="FILE",
        help="a .csv/.jsonl of dialogues (text runs): columns dialogue_id, speaker, text; "
        "optional utterance_id, order, label",
    )
    source.add_argument(
        "--wav",
        nargs="+",
        metavar="PATH",
        help="WAV files or folders of them (audio runs); a folder's files form one dialogue",
    )
    p.add_argument("--split", help="with --data: one split (default: every split it has)")
    p.add_argument("--out", required=True, help="output file, .csv or .jsonl")
    p.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default: auto)")
    p.add_argument("--batch-size", type=int, help="dialogues per batch (default: the run's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from ..train.inference import (
        TrainedModel,
        check_output_path,
        transcripts_dataset,
        wav_dataset,
        write_predictions,
    )

    if args.split and not args.data:
        raise ValueError("--split goes with --data (quick inputs are one split)")
    check_output_path(args.out)
    trained = TrainedModel.load(args.run_dir, device=args.device)
    if args.transcripts:
        data = transcripts_dataset(args.transcripts, trained.label_names)
    elif args.wav:
        data = wav_dataset(args.wav, trained.label_names)
    else:
        data = args.data
    table = trained.predict(data, args.split, args.batch_size, progress=not args.quiet)
    path = write_predictions(table, args.out)
    labelled = table[table["gold"] != ""]
    summary = f"{len(table)} utterances in {table['dialogue_id'].nunique()} dialogues"
    if len(labelled):
        accuracy = float((labelled["gold"] == labelled["pred"]).mean())
        summary += f"; accuracy {100 * accuracy:.2f} on the {len(labelled)} labelled"
    print(f"{trained.run_dir}: {summary} -> {path}")
    return 0
