"""Build the report folder: tables as Markdown / CSV / LaTeX, and one self-contained HTML page.

The page leads with what a reader compares: the test results, then one plot per noise grid with
the methods side by side, paired significance (Holm-corrected, with a note where the seed count
cannot reach significance), the graph agent's edges against accuracy, learning curves, then
the confusion matrices, each run's own plots at full width and its resolved config.

The HTML embeds every image as a data URI and its CSS inline, so it opens offline from any
folder (and as an e-mail attachment).
"""

from __future__ import annotations

import base64
import html
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..io import atomic_write
from ..paths import safe_name
from .collect import RunRecord, collect_runs
from .plots import (
    confusion_png,
    grid_comparison_png,
    learning_curves_png,
    metric_bars_png,
    pareto_png,
)
from .tables import (
    display_table,
    grid_cells,
    low_seed_note,
    robustness_by_cell,
    robustness_table,
    significance_display,
    significance_table,
    summary_table,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, td:nth-child(2) { text-align: left; }
figure { display: inline-block; margin: .5em; vertical-align: top; }
figure.wide { display: block; margin: .8em 0; }
figure.wide img { width: 100%; max-width: 1100px; }
figcaption { font-size: .8em; color: #555; text-align: center; }
img { max-width: 520px; }
p.note { background: #fff6d5; border-left: 4px solid #e0b000; padding: .5em .8em; }
details { margin: .3em 0; } summary { cursor: pointer; }
pre { background: #f7f7f7; padding: .6em; font-size: .8em; overflow-x: auto; }
"""


def _img(png: bytes, caption: str, wide: bool = False) -> str:
    data = base64.b64encode(png).decode("ascii")
    css = ' class="wide"' if wide else ""
    return (
        f'<figure{css}><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda x: f"{x:.2f}", border=0, na_rep="–")


def _write_tables(out: Path, name: str, frame: pd.DataFrame) -> None:
    name = safe_name(name)  # names hold dataset names such as byo:some/folder
    atomic_write(out / f"{name}.csv", lambda p: frame.to_csv(p, index=False))
    atomic_write(out / f"{name}.md", lambda p: p.write_text(frame.to_markdown(index=False) + "\n"))
    atomic_write(out / f"{name}.tex", lambda p: p.write_text(frame.to_latex(index=False)))


def _by_method(records: list[RunRecord]):
    """(dataset, method) -> that method's records, in the records' order."""
    return itertools.groupby(records, key=lambda r: (r.dataset, r.method))


def build_report(
    run_dirs: list[str | Path], out: str | Path, title: str = "affectrl report"
) -> Path:
    """Aggregate the runs under `run_dirs` into `out/` and return the path of report.html."""
    out = Path(out)
    records = collect_runs(run_dirs)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(records)} runs from {', '.join(html.escape(str(d)) for d in run_dirs)}; "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Numbers are percentages (two "
        "decimals) and p-values (four decimals); ± is the sample std over seeds.</p>",
    ]
    test = summary_table(records, "test")
    shown = display_table(test)
    _write_tables(out, "summary_test", shown)
    sections += ["<h2>Test results (mean ± std over seeds, %)</h2>", _html_table(shown)]
    sections += _grid_sections(out, records)
    sections += _significance_sections(out, records)
    sections += _pareto_sections(records)
    sections.append(_img(metric_bars_png(test), "test weighted F1 per method"))
    sections += _learning_curve_sections(records)
    dev = display_table(summary_table(records, "dev"))
    _write_tables(out, "summary_dev", dev)
    sections += ["<h2>Dev results (mean ± std over seeds, %)</h2>", _html_table(dev)]
    sections.append("<h2>Confusion matrices (test, summed over seeds)</h2>")
    for _, group in _by_method(records):
        group = list(group)
        png = confusion_png(group)
        if png:
            sections.append(_img(png, f"{group[0].dataset} / {group[0].method}"))
    sections += _run_artifacts(records)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    return atomic_write(out / "report.html", lambda p: p.write_text(page, encoding="utf-8"))


def _grid_sections(out: Path, records: list[RunRecord]) -> list[str]:
    """Per noise grid: the methods' accuracy against severity, the grid summary, per cell."""
    cells = grid_cells(records)
    if cells.empty:
        return []
    robustness = robustness_table(cells)
    _write_tables(out, "robustness", robustness)
    parts = [
        "<h2>Noise-grid robustness (test)</h2>",
        "<p>grid_accuracy: each seed's mean accuracy over the grid's cells, then mean ± std "
        "over seeds (%); from the runs' robustness_&lt;grid&gt;.csv "
        "(<code>affectrl eval RUN --noise-grid GRID</code>).</p>",
    ]
    for (dataset, grid), chosen in cells.groupby(["dataset", "grid"], sort=False):
        png = grid_comparison_png(chosen, f"{dataset} / {grid}: test accuracy against severity")
        if png:
            parts.append(_img(png, f"{dataset} / {grid}: methods against severity", wide=True))
    parts.append(_html_table(robustness))
    for (dataset, grid), _ in cells.groupby(["dataset", "grid"], sort=False):
        by_cell = robustness_by_cell(cells, dataset, grid)
        _write_tables(out, f"robustness_cells_{dataset}_{grid}", by_cell)
        parts += [
            "<details><summary>"
            f"{html.escape(dataset)} / {html.escape(grid)}: accuracy per cell (mean ± std over "
            "seeds, %)</summary>",
            _html_table(by_cell),
            "</details>",
        ]
    return parts


def _significance_sections(out: Path, records: list[RunRecord]) -> list[str]:
    table = significance_table(records)
    if table.empty:
        return []
    _write_tables(out, "significance", table)
    parts = [
        "<h2>Paired significance (clean test weighted F1 and noise-grid accuracy)</h2>",
        "<p>mean_diff: a − b over common seeds (points); ttest p / wilcoxon p: paired over "
        "seeds (over fold × seed pairs for cross-validated runs: pairs); randomisation p: "
        "approximate randomisation over test utterances (first common seed); in brackets: "
        f"Holm-adjusted over the {len(table)} comparisons shown; wilcoxon_floor: the smallest "
        "Holm-adjusted Wilcoxon p the pair count allows.</p>",
    ]
    note = low_seed_note(table)
    if note:
        parts.append(f'<p class="note">Low seed count: {html.escape(note)}</p>')
    return parts + [_html_table(significance_display(table))]


def _pareto_sections(records: list[RunRecord]) -> list[str]:
    """Per dataset whose runs have graph statistics: test wF1 against kept edges."""
    parts = []
    for dataset, group in itertools.groupby(records, key=lambda r: r.dataset):
        points: dict[str, tuple[list[float], list[float]]] = {}
        for r in group:
            stats, wf1 = r.graph_stats(), r.score("test", "weighted_f1")
            if stats and wf1 is not None:
                edges, scores = points.setdefault(r.method, ([], []))
                edges.append(float(stats["edges_per_utterance"]))
                scores.append(wf1)
        png = pareto_png(points, f"{dataset}: test weighted F1 against graph edges")
        if png:
            parts += [
                f"<h2>{html.escape(dataset)}: accuracy against graph edges</h2>",
                _img(png, f"{dataset}: Pareto of edges and test weighted F1", wide=True),
            ]
    return parts


def _learning_curve_sections(records: list[RunRecord]) -> list[str]:
    parts = []
    for dataset, group in itertools.groupby(records, key=lambda r: r.dataset):
        curves: dict[str, list[list[dict]]] = {}
        for r in group:
            curves.setdefault(r.method, []).extend(r.histories())
        png = learning_curves_png(curves, f"{dataset}: learning curves")
        if png:
            if not parts:
                parts.append("<h2>Learning curves (dev, per epoch, mean ± std over runs)</h2>")
            parts.append(_img(png, f"{dataset}: learning curves", wide=True))
    return parts


def _run_artifacts(records: list[RunRecord]) -> list[str]:
    """Per method: the figures and CSV tables its first seed wrote itself (full width), and its
    resolved config (collapsed)."""
    parts: list[str] = []
    for _, group in _by_method(records):
        first = next(group)
        parts.append(
            f"<h2>{html.escape(first.dataset)} / {html.escape(first.method)} "
            f"(seed {first.seed})</h2>"
        )
        parts += [_img(p.read_bytes(), p.stem.replace("_", " "), wide=True) for p in first.images]
        for table in first.tables:
            parts += [
                f"<details><summary>{html.escape(table.stem)}</summary>",
                _html_table(pd.read_csv(table)),
                "</details>",
            ]
        config = first.config_text()
        if config:
            parts.append(
                "<details><summary>resolved config (config.yaml)</summary>"
                f"<pre>{html.escape(config)}</pre></details>"
            )
    return parts
