"""Speaker-grouped splits: K-fold cross-validation folds and a dev split carved from training.

Speech-emotion results are speaker-independent: no speaker's clips are in two of train, dev and
test. The rules are fixed and written here so that every run, benchmark and user gets the same
folds:

- Groups are the dialogues' speakers (`group="speaker"`: every dialogue must have one speaker,
  as in RAVDESS where each clip is a one-clip dialogue) or the dialogues themselves
  (`group="dialogue"`). Groups are sorted by name.
- Fold k of K is the k-th contiguous block of the sorted groups (blocks differ in size by at
  most one; the first `n % K` blocks take the extra group). On RAVDESS (16 actors, odd numbers
  male) each of the 4 folds holds two actresses and two actors: 1-4, 5-8, 9-12, 13-16.
- Dev, where a dataset has none, is `max(1, round(n / DEV_SHARE))` of the n training groups:
  those that follow the last test group in the sorted order of all groups, wrapping around (the
  first training groups when there is no test). Across the folds of a cross-validation this
  spreads dev over different speakers (RAVDESS: test 1-4 -> dev 5-6, ..., test 13-16 -> dev 1-2).
"""

from __future__ import annotations

from .types import Dialogue, DialogueDataset

GROUPS = ("speaker", "dialogue")
DEV_SHARE = 6  # one dev group for every DEV_SHARE training groups (at least one)


def group_of(dialogue: Dialogue, group: str, dataset: str) -> str:
    """The group a dialogue belongs to: its one speaker, or its id."""
    if group == "dialogue":
        return dialogue.id
    if group != "speaker":
        raise ValueError(f"unknown cross-validation group {group!r}; known: {GROUPS}")
    speakers = set(dialogue.speakers)
    if len(speakers) != 1:
        raise ValueError(
            f"{dataset}: grouping by speaker needs one speaker per dialogue, but dialogue "
            f"{dialogue.id!r} has {sorted(speakers)}; use `group: dialogue`"
        )
    return speakers.pop()


def fold_groups(groups: list[str], folds: int) -> list[list[str]]:
    """The sorted groups cut into `folds` contiguous blocks (sizes differ by at most one)."""
    ordered = sorted(set(groups))
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise ValueError(f"cross-validation needs an integer number of folds >= 2, got {folds!r}")
    if folds > len(ordered):
        raise ValueError(f"{folds} folds need at least {folds} groups; there are {len(ordered)}")
    size, extra = divmod(len(ordered), folds)
    out, start = [], 0
    for k in range(folds):
        end = start + size + (k < extra)
        out.append(ordered[start:end])
        start = end
    return out


def cv_split(ds: DialogueDataset, folds: int, fold: int, group: str = "speaker") -> DialogueDataset:
    """Fold `fold` (0-based) of a K-fold cross-validation over all of `ds`'s dialogues: its
    groups are the test split, every other group trains (dev: `carve_dev`, from the training
    groups). The dataset's own split is ignored."""
    rest, test = _block_split(list(ds.dialogues()), folds, fold, group, ds.name, "fold")
    return carve_dev(_with_splits(ds, {"train": rest, "dev": [], "test": test}), group)


def _block_split(
    dialogues: list[Dialogue], folds: int, fold: int, group: str, dataset: str, what: str
) -> tuple[list[Dialogue], list[Dialogue]]:
    """(the other dialogues, those of block `fold` (0-based) of `folds` of their groups)."""
    groups = {d.id: group_of(d, group, dataset) for d in dialogues}
    blocks = fold_groups(list(groups.values()), folds)
    if not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"{what} must be an integer in 0..{folds - 1}, got {fold!r}")
    held = set(blocks[fold])
    return (
        [d for d in dialogues if groups[d.id] not in held],
        [d for d in dialogues if groups[d.id] in held],
    )


def carve_dev(ds: DialogueDataset, group: str = "speaker") -> DialogueDataset:
    """`ds` itself when it has dev dialogues; else a copy whose dev split is carved from the
    training groups by the rule of the module docstring (train and test unchanged)."""
    if ds.splits.get("dev"):
        return ds
    train, test = list(ds.dialogues("train")), list(ds.dialogues("test"))
    groups = {d.id: group_of(d, group, ds.name) for d in train + test}
    train_groups = sorted({groups[d.id] for d in train})
    if len(train_groups) < 2:
        raise ValueError(
            f"dataset {ds.name!r} has no 'dev' dialogues and its training split has "
            f"{len(train_groups)} {group}(s): nothing to carve a dev split from "
            "(add a dev split, or use `train.cv.group: dialogue`)"
        )
    every = sorted(set(groups.values()))
    test_groups = {groups[d.id] for d in test}
    start = max((every.index(g) + 1 for g in test_groups), default=0)
    n_dev = max(1, round(len(train_groups) / DEV_SHARE))
    cyclic = every[start:] + every[:start]
    dev = set([g for g in cyclic if g in set(train_groups)][:n_dev])
    splits = {
        "train": [d for d in train if groups[d.id] not in dev],
        "dev": [d for d in train if groups[d.id] in dev],
        "test": test,
    }
    return _with_splits(ds, splits)


def holdout_split(
    ds: DialogueDataset, folds: int, fold: int, group: str = "speaker"
) -> DialogueDataset:
    """Block `fold` (0-based) of `folds` of `ds`'s training groups (sorted, contiguous blocks as
    in `fold_groups`) as the test split, the other training groups as train; dev unchanged and
    `ds`'s test split dropped (the run never sees it). For cross-fitting: a model trained this
    way sees its held-out training groups as a model trained on every training group sees
    unseen ones."""
    train = list(ds.dialogues("train"))
    rest, held = _block_split(train, folds, fold, group, ds.name, "holdout fold")
    return _with_splits(ds, {"train": rest, "dev": list(ds.dialogues("dev")), "test": held})


def split_groups(ds: DialogueDataset, group: str = "speaker") -> dict[str, list[str]]:
    """Split -> the sorted groups in it (what a run records about its folds)."""
    return {
        s: sorted({group_of(d, group, ds.name) for d in ds.dialogues(s)})
        for s in ("train", "dev", "test")
    }


def _with_splits(ds: DialogueDataset, splits: dict[str, list[Dialogue]]) -> DialogueDataset:
    """A dataset sharing `ds`'s dialogues (and features) with other splits."""
    return DialogueDataset(
        ds.name,
        ds.label_names,
        splits,
        source=list(ds.source),
        per_dialogue_speakers=ds.per_dialogue_speakers,
        coverage=dict(ds.coverage),
        one_source=dict(ds.one_source),
    )
