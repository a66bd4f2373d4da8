"""The hostile-input catalogue: every bad input and fault that was tried, stage by stage, with what
the user sees. ``catalogue.py`` lists the cases and renders the table of docs/bad_input.md;
each ``test_<stage>.py`` runs that stage's cases on files derived from the shared real data at test time."""
