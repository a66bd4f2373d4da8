"""The sliding-window lengths of extractive QA, written once: ``QAFeatureConfig`` (which builds the windows) and
``TaskSettings`` (what a checkpoint records and a config sets) both take their defaults from here. A module of
its own, without torch, so the fine-tuning config reads them without loading it.

Paper 000 Appendix C and paper 001 Table 5 (EQA): input length 384, query length 64; doc stride 128 (BERT's
SQuAD setting).
"""
MAX_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
