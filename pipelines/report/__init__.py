"""A report people look at: a short Markdown summary and PNG plots of a dataset directory, of any kind.

    python -m pipelines.report DIR [--out REPORT_DIR]

Writes ``REPORT_DIR/report.md`` (default ``DIR/report/``) and the PNG plots it shows, chosen by the
manifest's ``kind``:

- ``mrc`` (``pipelines.wiki_mrc``): answer start positions against uniform, query and context lengths,
  answers per example, answerable / unanswerable examples per language;
- ``clism`` (``pipelines.clism``), per language pair: pairs read, kept and dropped, [QUE] answers per row,
  source span and answer lengths, how much of each span pair the alignment links cover;
- ``tagged`` (``pipelines.import_conll``, ``pipelines.project_labels``): entities per type and language,
  sentence and entity lengths, and for projected data the spans projected or lost (lost_unaligned,
  lost_conflict) per target language;

and for every kind the manifest's drop reasons and counters. An empty or tiny dataset gets a report that says
so. Rows are streamed in batches (only the columns needed), so a large dataset needs memory for a few numbers
per row at most, not for its text. matplotlib is needed (``pip install matplotlib``).
"""
from pipelines.report.registry import REPORTS, get_report, write_report

__all__ = ["REPORTS", "get_report", "write_report"]
