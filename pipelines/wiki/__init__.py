"""Reading Wikipedia: dump files into pages (``dump``), title and namespace rules (``titles``), wikitext into text
with anchors (``wikitext``, on the node tree of ``tree``), and the same conversion in a bounded child process for
untrusted pages (``parser_process``). No Beam transform lives here: ``pipelines.wiki_mrc`` builds the pipeline."""
