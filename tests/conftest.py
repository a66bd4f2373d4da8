"""Shared pytest fixtures: where the real data and the real aligner programs live, and how Beam pipelines run in
tests."""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    # POLYSPAN_DATA points at the shared real datasets; relative paths are taken from the repository root
    # so the suite behaves the same whatever directory pytest is started from.
    root = Path(os.environ.get("POLYSPAN_DATA", "../shared/data"))
    return root if root.is_absolute() else (REPO_ROOT / root).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real shared datasets. Missing data fails under CI=true and skips (loudly) elsewhere."""
    root = _data_root()
    if not (root / "README.md").is_file():
        message = (f"real test data not found at {root}: set POLYSPAN_DATA to the folder holding "
                   "wiki/, parallel/, ner/, qa/ and align_gold/")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


def _tools_root() -> Path:
    # POLYSPAN_TOOLS points at real builds of the external aligners (bin/fast_align, bin/atools, bin/mgiza and
    # its companions, lib/ for mgiza's Boost library); relative paths are taken from the repository root.
    root = Path(os.environ.get("POLYSPAN_TOOLS", "../shared/tools"))
    return root if root.is_absolute() else (REPO_ROOT / root).resolve()


@pytest.fixture(scope="session")
def tools_dir() -> Path:
    """The ``bin/`` folder of the real aligner programs (fast_align, atools, mgiza, mkcls, plain2snt, snt2cooc).
    Missing tools fail under CI=true and skip (loudly) elsewhere, like the data."""
    bin_dir = _tools_root() / "bin"
    wanted = ("fast_align", "atools", "mgiza", "mkcls", "plain2snt", "snt2cooc")
    missing = [name for name in wanted if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        message = (f"real aligner programs {', '.join(missing)} not found in {bin_dir}: set POLYSPAN_TOOLS to the "
                   "folder holding bin/ (and lib/) of fast_align and MGIZA++")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return bin_dir


@pytest.fixture
def bare_environment(monkeypatch, tmp_path):
    """No aligner program reachable except through an explicit path: an empty PATH and no $POLYSPAN_ALIGNER_BIN."""
    from alignment.external import BIN_ENV
    monkeypatch.delenv(BIN_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.fixture
def beam_options():
    """Pipeline options for tests: a runner that needs no download (the default DirectRunner may try to
    fetch the Prism binary first, which fails offline)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    return PipelineOptions(["--runner=FnApiRunner"])


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a test module (``pytestmark = pytest.mark.usefixtures(...)``): tiny models
    gain nothing from threads and lose much to contention on a 2-core machine, and with one thread float
    reductions run in the same order everywhere, so loss sequences of two runs can be compared for equality.
    OMP_NUM_THREADS=1 as well: a trainer run sets its own count from it (runtime.threads 0, trainer/loop/threads.py),
    and so do the processes a test starts."""
    import torch
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp
