"""What the models read: shard datasets, the raw evaluation formats (SQuAD JSON, CoNLL, TSV, SemEval XML,
line-parallel text), features and collators per input layout, resumable batch streams, MLM masking, few-shot
sampling and tokenizer training. May import: ``schemas``."""
