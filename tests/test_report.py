"""The report: tables, significance and a self-contained HTML page, checked in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectrl.cli import main
from affectrl.io import write_json
from affectrl.report import collect_runs
from affectrl.report.tables import (
    grid_cells,
    robustness_by_cell,
    robustness_table,
    significance_table,
    summary_table,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LABELS = ["neg", "pos"]


def _fake_run(root: Path, method: str, seed: int, acc: float, n: int = 40) -> None:
    """A finished run folder in the trainer's format: metrics.json + predictions.json."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < acc, gold, 1 - gold)
    cm = np.zeros((2, 2), dtype=int)
    np.add.at(cm, (gold, pred), 1)
    score = float((gold == pred).mean())
    split = {
        "accuracy": score,
        "weighted_f1": score - 0.01,
        "macro_f1": score - 0.02,
        "confusion_matrix": cm.tolist(),
        "labels": LABELS,
    }
    run = root / method / f"seed-{seed}"
    history = [
        {"epoch": e, "dev_loss": 1.0 / e, "dev": {"weighted_f1": score * e / 3}} for e in (1, 2, 3)
    ]
    metrics = {"dev": split, "test": split, "seed": seed, "dataset": "toy", "history": history}
    write_json(run / "metrics.json", metrics)
    ids = [f"u{i}" for i in range(n)]
    write_json(
        run / "predictions.json",
        {"test": {"utterance_ids": ids, "gold": gold.tolist(), "pred": pred.tolist()}},
    )


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    for seed in (1, 2, 3):
        _fake_run(tmp_path / "runs", "strong", seed, 0.9)
        _fake_run(tmp_path / "runs", "weak", seed, 0.6)
    return tmp_path / "runs"


def test_summary_and_significance(runs):
    records = collect_runs([runs])
    assert [(r.method, r.seed) for r in records][:3] == [
        ("strong", 1),
        ("strong", 2),
        ("strong", 3),
    ]
    summary = summary_table(records).set_index("method")
    accs = [r.metrics["test"]["accuracy"] for r in records if r.method == "weak"]
    assert summary.loc["weak", "accuracy_mean"] == pytest.approx(100 * np.mean(accs))
    assert summary.loc["weak", "accuracy_std"] == pytest.approx(100 * np.std(accs, ddof=1))
    sig = significance_table(records).iloc[0]
    assert (sig["a"], sig["b"], sig["seeds"]) == ("strong", "weak", 3)
    assert sig["mean_diff"] > 0
    assert sig["randomisation_p"] < 0.05


def _grid_tables(runs: Path) -> None:
    """robustness_quick.csv for both methods and every seed: a clean cell and two severities;
    "strong" degrades less than "weak"."""
    for method, slope in (("strong", 0.2), ("weak", 0.4)):
        for seed in (1, 2, 3):
            rows = ["protocol,seed,cell,corruption,severity,accuracy"]
            for cell, severity in (("clean", 0.0), ("a/gauss/0.5", 0.5), ("a/gauss/1.0", 1.0)):
                accuracy = 0.9 - slope * severity + 0.01 * seed
                kind = "clean" if cell == "clean" else "gauss"
                rows.append(f"quick,{seed},{cell},{kind},{severity},{accuracy}")
            (runs / method / f"seed-{seed}" / "robustness_quick.csv").write_text("\n".join(rows))


def _chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed (make test installs it)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}",
    ]
    return subprocess.run(
        [chromium, *flags, *args, url], capture_output=True, text=True, timeout=120, check=True
    )


def test_report_files_and_html_in_chromium(runs, tmp_path):
    (runs / "strong" / "seed-1" / "robustness.csv").write_text("cell,accuracy\nclean,0.9\n")
    shutil.copy(Path(__file__).parent / "fixtures" / "tiny.png", runs / "strong" / "seed-1")
    (runs / "strong" / "seed-1" / "config.yaml").write_text("name: strong\ntrain: {lr: 0.5}\n")
    _grid_tables(runs)
    out = tmp_path / "report"
    assert main(["report", str(runs), "--out", str(out)]) == 0
    for name in ("summary_test.md", "summary_test.csv", "summary_test.tex", "significance.csv"):
        assert (out / name).is_file(), name
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # offline: nothing fetched
    # Significance on the clean metric and on the grid, Holm-adjusted over both comparisons.
    sig = pd.read_csv(out / "significance.csv")
    assert sig["comparison"].tolist() == ["test weighted_f1", "quick grid accuracy"]
    p = sig["ttest_p"].to_numpy()
    low, high = sorted(p)
    expected = {low: min(1, 2 * low), high: min(1, max(2 * low, high))}
    assert sig["ttest_holm"].tolist() == pytest.approx([expected[v] for v in p])
    assert sig.loc[1, "mean_diff"] == pytest.approx(100 * (0.4 - 0.2) * 0.5)  # grid means
    assert (sig["wilcoxon_floor"] == 0.5).all()  # 3 seeds, 2 comparisons: 2 * 2 / 2**3
    url = (out / "report.html").resolve().as_uri()
    dom = _chromium(tmp_path, url, "--dump-dom").stdout
    assert len(re.findall(r"<table", dom)) >= 5  # test, grid, significance, dev, the run's CSV
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,', dom)
    assert images[0] == "toy / quick: methods against severity"  # the first figure
    assert {"test weighted F1 per method", "toy: learning curves"} <= set(images)
    assert {"toy / strong", "toy / weak", "tiny"} <= set(images)
    note = re.search(r'<p class="note">Low seed count: ([^<]*)</p>', dom)
    assert note and "cannot reach p &lt; 0.05" in note.group(1)
    holm = f"{sig.loc[0, 'ttest_p']:.4f} ({sig.loc[0, 'ttest_holm']:.4f})"
    assert "ttest p (Holm)" in dom and holm in dom and "wilcoxon_floor" in dom
    assert "<summary>resolved config (config.yaml)</summary>" in dom and "lr: 0.5" in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    _chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.stat().st_size > 10_000


def test_report_summarises_noise_grids(runs, tmp_path):
    for seed, noisy in ((1, 0.7), (2, 0.5), (3, 0.9)):  # grid means 0.8, 0.7, 0.9
        rows = ["protocol,seed,cell,accuracy", f"quick,{seed},clean,0.9", f"quick,{seed},x,{noisy}"]
        (runs / "strong" / f"seed-{seed}" / "robustness_quick.csv").write_text("\n".join(rows))
    cells = grid_cells(collect_runs([runs]))
    table = robustness_table(cells)
    assert table.to_dict("records") == [
        {
            "dataset": "toy",
            "method": "strong",
            "grid": "quick",
            "seeds": 3,
            "cells": 2,
            "grid_accuracy": "80.00 ± 10.00",
            "clean_accuracy": "90.00 ± 0.00",
        }
    ]
    by_cell = robustness_by_cell(cells, "toy", "quick")
    assert by_cell.to_dict("records") == [  # mean ± std over seeds, one number format
        {"cell": "clean", "strong": "90.00 ± 0.00"},
        {"cell": "x", "strong": "70.00 ± 20.00"},
    ]
    out = tmp_path / "report"
    assert main(["report", str(runs), "--out", str(out)]) == 0
    assert "80.00 ± 10.00" in (out / "robustness.md").read_text()
    assert (out / "robustness_cells_toy_quick.csv").is_file()
    assert "Noise-grid robustness" in (out / "report.html").read_text()
    (runs / "weak" / "seed-1" / "robustness_bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="robustness_bad.csv: not a noise-grid table"):
        grid_cells(collect_runs([runs]))


def test_report_without_runs_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    assert "no finished runs" in capsys.readouterr().err


def test_metrics_json_must_be_valid(tmp_path):
    (tmp_path / "m" / "seed-1").mkdir(parents=True)
    (tmp_path / "m" / "seed-1" / "metrics.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"metrics.json: not valid JSON"):
        collect_runs([tmp_path])


def _run_with(root: Path, method: str, dataset: str, labels: list[str]) -> Path:
    split = {
        "accuracy": 0.5,
        "weighted_f1": 0.5,
        "macro_f1": 0.5,
        "confusion_matrix": [[1, 1], [1, 1]],
        "labels": labels,
    }
    run = root / method / "seed-1"
    write_json(run / "metrics.json", {"dev": split, "test": split, "seed": 1, "dataset": dataset})
    return run


def test_report_draws_dollar_signs_in_labels_and_run_names_as_text(tmp_path):
    from affectrl.report import build_report

    _run_with(tmp_path / "runs", "cost$$", "byo:x", ["$^$", "$_$"])
    page = build_report([tmp_path / "runs"], tmp_path / "out").read_text()
    assert "cost$$" in page and page.count("data:image/png") == 2


def test_report_file_names_from_a_dataset_name_are_sanitised(tmp_path):
    from affectrl.report import build_report

    run = _run_with(tmp_path / "runs", "m", "byo:some/folder", ["a", "b"])
    (run / "robustness_quick.csv").write_text("protocol,cell,accuracy\nquick,clean,0.5\n")
    build_report([tmp_path / "runs"], tmp_path / "out")
    assert not (tmp_path / "out" / "robustness_cells_byo:some").exists()
    assert (tmp_path / "out" / "robustness_cells_byo_some_folder_quick.csv").is_file()
    assert all(p.parent == tmp_path / "out" for p in (tmp_path / "out").rglob("*"))


def test_report_never_embeds_files_linked_from_outside_a_run_folder(tmp_path):
    from affectrl.report import build_report

    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.csv").write_text("password\nhunter2\n")
    (secret / "photo.png").write_bytes(
        (Path(__file__).parent / "fixtures" / "tiny.png").read_bytes()
    )
    run = _run_with(tmp_path / "runs", "m", "toy", ["a", "b"])
    (run / "stolen.csv").symlink_to(secret / "key.csv")
    (run / "stolen.png").symlink_to(secret / "photo.png")
    (tmp_path / "runs" / "elsewhere").mkdir()
    (tmp_path / "runs" / "elsewhere" / "metrics.json").symlink_to(
        run / ".." / ".." / ".." / "x.json"
    )
    (tmp_path / "x.json").write_text('{"dataset": "leak", "test": {}, "dev": {}}')
    with pytest.warns(UserWarning, match="points outside"):
        page = build_report([tmp_path / "runs"], tmp_path / "out").read_text()
    assert "hunter2" not in page and "stolen" not in page and "leak" not in page
