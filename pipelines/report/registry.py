"""The report of every dataset kind, registered by the kind's name (the manifest's ``kind``), and the one
function that writes a report whatever the kind."""
from __future__ import annotations

import os

from pipelines.report import clism, mrc, tagged
from pipelines.report.common import Figures, ReportKind, frame
from schemas import open_dataset
from schemas.layout import REPORT_DIR
from schemas.registry import Registry

# Dataset kind (the manifest's ``kind``) -> its report; a new kind's report is a module here and a line below.
REPORTS: Registry[ReportKind] = Registry("report kind")
for _report in (mrc.REPORT, clism.REPORT, tagged.REPORT):
    REPORTS.register(_report.kind, _report, _report.title)


def get_report(kind: str) -> ReportKind:
    """The report of dataset kind ``kind``; ``UnknownNameError`` listing the kinds that have one."""
    return REPORTS[kind]


def write_report(directory: str, out: str | None = None) -> str:
    """Write the report of the dataset in ``directory`` (``out``, default ``directory/_report``, a name the
    data tools skip when they read the folder):
    ``report.md`` and its PNG plots. Returns the Markdown file's path."""
    dataset = open_dataset(directory)
    report = get_report(dataset.manifest.kind)
    summary = report.summarize(dataset)
    out = out or os.path.join(directory, REPORT_DIR)
    os.makedirs(out, exist_ok=True)
    figures = Figures(out)
    report.plot(summary, figures)
    drawn = {name for name, _ in figures.written}
    for name in set(report.plots) - drawn:  # a stale plot of an earlier run would contradict report.md
        stale = os.path.join(out, name + ".png")
        if os.path.exists(stale):
            os.remove(stale)
    path = os.path.join(out, "report.md")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(frame(report, summary, dataset, figures.written))
    return path
