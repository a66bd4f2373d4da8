"""The hostile-input catalogue (issue 21): every bad input and fault that was tried, stage by stage, with what
the user sees. ``catalogue.py`` lists the cases and renders the README's "What happens to bad input" table;
each ``test_<stage>.py`` runs that stage's cases on files derived from the shared real data at test time."""
