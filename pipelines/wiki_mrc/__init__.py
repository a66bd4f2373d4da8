"""Wikipedia anchor MRC data for mPMR (paper 001, §2.2 and Appendix A.1) on Apache Beam.

Rooms: ``examples.py`` (pure construction of queries, contexts and answers), ``redirects.py`` (redirect
resolution as keyed joins), ``records.py`` (what travels between steps), ``pipeline.py`` (the Beam graph),
``__main__.py`` (the command line: ``python -m pipelines.wiki_mrc --help``).
"""
