"""Shard schemas, manifests and validation: the contract between polyspan's pipelines and its trainer.

Imports only pyarrow (and the standard library), so both halves can depend on it.
"""
from schemas.dataset import Dataset, DatasetError, open_dataset, schema_problems, validate_dataset
from schemas.kinds import CLISM, KINDS, MRC, TAGGED, DatasetKind, get_kind
from schemas.manifest import MANIFEST_NAME, Manifest, ShardInfo, code_version, read_manifest, write_manifest

__all__ = [
    "CLISM", "KINDS", "MANIFEST_NAME", "MRC", "TAGGED", "Dataset", "DatasetError", "DatasetKind", "Manifest",
    "ShardInfo", "code_version", "get_kind", "open_dataset", "read_manifest", "schema_problems",
    "validate_dataset", "write_manifest",
]
