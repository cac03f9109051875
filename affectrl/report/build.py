"""Build the report folder: tables as Markdown / CSV / LaTeX, and one self-contained HTML page.

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
from .plots import confusion_png, metric_bars_png
from .tables import (
    display_table,
    grid_cells,
    robustness_by_cell,
    robustness_table,
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
figcaption { font-size: .8em; color: #555; text-align: center; }
img { max-width: 520px; }
"""


def _img(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0, na_rep="–")


def _write_tables(out: Path, name: str, frame: pd.DataFrame) -> None:
    name = safe_name(name)  # names hold dataset names such as byo:some/folder
    atomic_write(out / f"{name}.csv", lambda p: frame.to_csv(p, index=False))
    atomic_write(out / f"{name}.md", lambda p: p.write_text(frame.to_markdown(index=False) + "\n"))
    atomic_write(out / f"{name}.tex", lambda p: p.write_text(frame.to_latex(index=False)))


def build_report(
    run_dirs: list[str | Path], out: str | Path, title: str = "affectrl report"
) -> Path:
    """Aggregate the runs under `run_dirs` into `out/` and return the path of report.html."""
    out = Path(out)
    records = collect_runs(run_dirs)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(records)} runs from {', '.join(html.escape(str(d)) for d in run_dirs)}; "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>",
    ]
    for split in ("test", "dev"):
        summary = summary_table(records, split)
        shown = display_table(summary)
        _write_tables(out, f"summary_{split}", shown)
        sections += [
            f"<h2>{split.capitalize()} results (mean ± std over seeds, %)</h2>",
            _html_table(shown),
        ]
        if split == "test":
            sections.append(_img(metric_bars_png(summary), "test weighted F1 per method"))
    cells = grid_cells(records)
    if not cells.empty:
        robustness = robustness_table(cells)
        _write_tables(out, "robustness", robustness)
        sections += [
            "<h2>Noise-grid robustness (test)</h2>",
            "<p>grid_accuracy: each seed's mean accuracy over the grid's cells, then mean ± std "
            "over seeds (%); from the runs' robustness_&lt;grid&gt;.csv "
            "(<code>affectrl eval RUN --noise-grid GRID</code>).</p>",
            _html_table(robustness),
        ]
        for (dataset, grid), _ in cells.groupby(["dataset", "grid"], sort=False):
            by_cell = robustness_by_cell(cells, dataset, grid)
            _write_tables(out, f"robustness_cells_{dataset}_{grid}", by_cell)
            sections += [
                f"<h3>{html.escape(dataset)} / {html.escape(grid)}: accuracy per cell "
                "(mean over seeds, %)</h3>",
                _html_table(by_cell),
            ]
    significance = significance_table(records)
    if not significance.empty:
        _write_tables(out, "significance", significance)
        sections += [
            "<h2>Paired significance (test weighted F1)</h2>",
            "<p>mean_diff: a − b over common seeds (points); ttest_p / wilcoxon_p: paired "
            "over seeds (over fold × seed pairs for cross-validated runs); randomisation_p: "
            "approximate randomisation over test utterances "
            "(first common seed).</p>",
            _html_table(significance),
        ]
    sections.append("<h2>Confusion matrices (test, summed over seeds)</h2>")
    for _, group in itertools.groupby(records, key=lambda r: (r.dataset, r.method)):
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


def _run_artifacts(records: list[RunRecord]) -> list[str]:
    """Figures and CSV tables the runs wrote themselves (first seed of each method)."""
    parts: list[str] = []
    for _, group in itertools.groupby(records, key=lambda r: (r.dataset, r.method)):
        first = next(group)
        if not first.images and not first.tables:
            continue
        parts.append(
            f"<h2>{html.escape(first.dataset)} / {html.escape(first.method)} "
            f"(seed {first.seed})</h2>"
        )
        parts += [_img(p.read_bytes(), p.stem.replace("_", " ")) for p in first.images]
        for table in first.tables:
            parts += [f"<h3>{html.escape(table.stem)}</h3>", _html_table(pd.read_csv(table))]
    return parts
