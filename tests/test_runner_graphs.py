"""Every pipeline's Beam graph built for Dataflow, Flink and Spark without submitting it.

What a cluster run would only reveal after minutes of provisioning is caught here in seconds:
- option errors (Beam's own validator runs when the pipeline is constructed with the runner's options);
- pickling errors (every DoFn and CombineFn is serialised into the portable proto, then unpickled again in a
  fresh process that has only the installed packages, as a worker has);
- a path of the launching machine captured by a DoFn (only the inputs the user named may appear);
- hot keys: the mention samples of wiki_mrc are combined (lifted into a per-bundle precombine) before any
  shuffle, so an entity with millions of mentions never lands on one worker;
- ``--setup_file ./setup.py``: the package Dataflow stages for its workers holds every module of the project.

DataflowRunner's own translation runs with ``--dry_run=True`` (it stops right before the submission; needs
``apache-beam[gcp]``, no credentials, no network). Flink and Spark get the proto the portable runner would
send to their job server (``PortableRunner.get_proto_pipeline``: the same environment and optimisations).

A new pipeline joins by adding a ``GraphCase`` to ``CASES``.
"""
from __future__ import annotations

import base64
import importlib
import bz2
import glob
import os
import pickle
import pickletools
import subprocess
import sys
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (GoogleCloudOptions, PipelineOptions, PortableOptions,
                                                  SetupOptions, StandardOptions, WorkerOptions)
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.portable_runner import PortableRunner

from pipelines.cli import parse_args

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "pipelines" / "samples"
IMAGE = "europe-docker.pkg.dev/polyspan-test/polyspan/pipelines:0.1.0"
BUCKET = "gs://polyspan-test"

# ---------------------------------------------------------------------------------------------------------------
# Runners: the options a data engineer passes (docs/scale.md)
# ---------------------------------------------------------------------------------------------------------------

DATAFLOW = ["--runner=DataflowRunner", "--project=polyspan-test", "--region=europe-west4",
            f"--temp_location={BUCKET}/tmp", f"--staging_location={BUCKET}/staging",
            "--max_num_workers=40", "--machine_type=n2-highmem-4", "--disk_size_gb=50",
            "--job_name=polyspan-graph-test", "--dry_run=True"]
RUNNERS = {
    # The custom SDK container: everything is in the image, nothing is staged.
    "dataflow-image": DATAFLOW + [f"--sdk_container_image={IMAGE}", "--sdk_location=container"],
    "flink-docker": ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--parallelism=16",
                     "--environment_type=DOCKER", f"--environment_config={IMAGE}"],
    # Workers as a sidecar of each task manager (`docker run IMAGE --worker_pool`, listening on :50000).
    "flink-external": ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081",
                       "--environment_type=EXTERNAL", "--environment_config=localhost:50000"],
    "spark-docker": ["--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077",
                     "--environment_type=DOCKER", f"--environment_config={IMAGE}"],
    # A job server already running beside the cluster (Flink's or Spark's), reached by its endpoint.
    "portable-endpoint": ["--runner=PortableRunner", "--job_endpoint=beam-job-server:8099",
                          "--environment_type=EXTERNAL", "--environment_config=localhost:50000"],
}


# ---------------------------------------------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class GraphCase:
    """A pipeline as its command line would launch it. ``module`` is the CLI module: either
    ``configure(argv) -> (config, options)``, or ``build_parser()`` + ``config_from_args(args)``; the graph is its
    package's ``pipeline.build_pipeline(pipeline, config)``, writers included (every pipeline's one contract; the
    CLI module imports it only once the arguments parsed). ``argv`` holds the
    pipeline's own flags (the runner's are appended); ``inputs`` are the files the user named: the only
    launching-machine paths a DoFn may carry."""
    name: str
    module: str
    argv: list[str]
    inputs: list[str]

    def configure_and_build(self, runner_argv: list[str]) -> tuple[beam.Pipeline, object, PipelineOptions]:
        cli = importlib.import_module(self.module)
        if hasattr(cli, "configure"):
            config, options = cli.configure(self.argv + runner_argv)
        else:
            args, options = parse_args(cli.build_parser(), self.argv + runner_argv)
            config = cli.config_from_args(args)
        pipeline = beam.Pipeline(options=options)  # Beam validates the options for the runner here
        importlib.import_module(self.module.rsplit(".", 1)[0] + ".pipeline").build_pipeline(pipeline, config)
        return pipeline, config, options


CONLL = str(SAMPLES / "en-de-sample.en.conll")
GERMAN = str(SAMPLES / "en-de-sample.de.txt")
WIKI = str(SAMPLES / "enwiki-sample.xml")
# Every pipeline of the project, on the embedded samples, writing under a bucket.
CASES = [
    GraphCase("import_conll", "pipelines.import_conll.__main__",
              ["--input", CONLL, "--lang", "en", "--output", f"{BUCKET}/tagged-en"], [CONLL]),
    GraphCase("wiki_mrc", "pipelines.wiki_mrc.__main__",
              ["--input", WIKI, "--lang", "en", "--output", f"{BUCKET}/mrc-en"], [WIKI]),
    GraphCase("clism", "pipelines.clism.__main__",
              ["--source-spans", CONLL, "--tgt", GERMAN, "--src-lang", "en", "--tgt-lang", "de", "--pretokenized",
               "--output", f"{BUCKET}/clism-en-de"], [CONLL, GERMAN]),
    GraphCase("project_labels", "pipelines.project_labels.__main__",
              ["--source", CONLL, "--src-lang", "en", "--translations", GERMAN, "--tgt-lang", "de",
               "--pretokenized", "--output", f"{BUCKET}/projected"], [CONLL, GERMAN]),
]


def _has_dataflow_client() -> bool:
    try:
        from apache_beam.runners.dataflow.internal import apiclient  # noqa: F401  (needs apache-beam[gcp])
    except ImportError:
        return False
    return True


# CI installs apache-beam[gcp] (setup.py), so there a missing client fails the Dataflow cases; elsewhere they
# are skipped with the install line.
needs_dataflow = pytest.mark.skipif(
    not _has_dataflow_client() and os.environ.get("CI", "").lower() != "true",
    reason="DataflowRunner needs apache-beam[gcp]: pip install -c constraints.txt 'apache-beam[gcp]==2.77.0'")


def _runner_params():
    for runner in RUNNERS:
        yield pytest.param(runner, marks=[needs_dataflow] if runner.startswith("dataflow") else [], id=runner)


# ---------------------------------------------------------------------------------------------------------------
# Reading a pipeline proto
# ---------------------------------------------------------------------------------------------------------------

PICKLED_FN_URNS = {python_urns.PICKLED_DOFN_INFO, python_urns.PICKLED_COMBINE_FN}
COMBINE_URNS = {common_urns.composites.COMBINE_PER_KEY.urn, common_urns.composites.COMBINE_GLOBALLY.urn,
                common_urns.combine_components.COMBINE_PER_KEY_PRECOMBINE.urn,
                common_urns.combine_components.COMBINE_PER_KEY_MERGE_ACCUMULATORS.urn,
                common_urns.combine_components.COMBINE_PER_KEY_EXTRACT_OUTPUTS.urn,
                common_urns.combine_components.COMBINE_GROUPED_VALUES.urn}
GROUP_BY_KEY = common_urns.primitives.GROUP_BY_KEY.urn


def pickled_fns(proto: beam_runner_api_pb2.Pipeline) -> Iterator[tuple[str, bytes]]:
    """(transform name, Beam-pickled payload) of every Python DoFn and CombineFn in the pipeline."""
    for transform in proto.components.transforms.values():
        if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
            spec = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload).do_fn
        elif transform.spec.urn in COMBINE_URNS:
            spec = beam_runner_api_pb2.CombinePayload.FromString(transform.spec.payload).combine_fn
        else:
            continue
        if spec.urn in PICKLED_FN_URNS:
            yield transform.unique_name, spec.payload


def pickled_strings(payload: bytes) -> set[str]:
    """Every string constant inside a Beam-pickled payload (base64 of a zlib/bz2-compressed pickle), read with
    pickletools: exact, and nothing is unpickled."""
    raw = base64.b64decode(payload)
    return _strings(bz2.decompress(raw) if raw[:3] == b"BZh" else zlib.decompress(raw))


def _strings(raw: bytes) -> set[str]:
    found = set()
    for _, arg, _ in pickletools.genops(raw):
        if isinstance(arg, str):
            found.add(arg)
        elif isinstance(arg, bytes):
            # beam.Create's values travel encoded (a coder's type byte, then a pickle) inside the DoFn's
            # pickle: read the strings of that inner pickle.
            start = arg.find(b"\x80")
            try:
                if start < 0 or arg[start + 1:start + 2] not in (b"\x04", b"\x05"):
                    raise ValueError("not a pickle")
                found |= _strings(arg[start:])
            except Exception:  # plain bytes
                found.add(arg.decode("utf-8", "replace"))
    return found


def launcher_roots() -> list[str]:
    """Folders of the launching machine a worker does not have."""
    roots = {str(REPO_ROOT), os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~"),
             os.path.realpath(os.environ.get("POLYSPAN_DATA", REPO_ROOT.parent / "shared" / "data"))}
    return sorted(root for root in roots if root not in ("/", ""))


def leaked_paths(proto: beam_runner_api_pb2.Pipeline, inputs: list[str]) -> dict[str, list[str]]:
    """{transform: [launcher paths its function carries]}, leaving out the named inputs (workers read those
    through Beam's filesystems: fine when they are gs://, s3://, hdfs:// or a shared mount) and the source file
    names of pickled code (``co_filename``: only used in tracebacks)."""
    allowed = {os.path.abspath(f) for pattern in inputs for f in glob.glob(pattern)}
    roots = launcher_roots()
    leaks: dict[str, list[str]] = {}
    for name, payload in pickled_fns(proto):
        for text in pickled_strings(payload):
            if not any(root in text for root in roots):
                continue
            if text in allowed or (text.endswith(".py") and os.path.isfile(text)):
                continue
            leaks.setdefault(name, []).append(text)
    return leaks


def consumers(proto: beam_runner_api_pb2.Pipeline, pcollection: str) -> list[beam_runner_api_pb2.PTransform]:
    """The leaf transforms (no subtransforms) reading ``pcollection``."""
    return [t for t in proto.components.transforms.values()
            if not t.subtransforms and pcollection in t.inputs.values()]


def output_of(proto: beam_runner_api_pb2.Pipeline, transform_name: str, tag: str) -> str:
    for transform in proto.components.transforms.values():
        if transform.unique_name == transform_name:
            return transform.outputs[tag]
    raise KeyError(f"no transform {transform_name!r}")


def runner_proto(pipeline: beam.Pipeline, options: PipelineOptions) -> beam_runner_api_pb2.Pipeline:
    """The proto a runner would submit: Dataflow's own translation on a dry run, or the portable one."""
    if options.view_as(StandardOptions).runner == "DataflowRunner":
        result = pipeline.run()  # --dry_run=True: translated, validated, not submitted
        return result.job.proto_pipeline
    return PortableRunner.get_proto_pipeline(pipeline, options)


# ---------------------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graphs():
    """Each (pipeline, runner) built once: the tests below read them."""
    cache: dict[tuple[str, str], tuple] = {}

    def get(case: GraphCase, runner: str):
        if (case.name, runner) not in cache:
            pipeline, config, options = case.configure_and_build(RUNNERS[runner])
            cache[case.name, runner] = (runner_proto(pipeline, options), config, options)
        return cache[case.name, runner]
    return get


@pytest.mark.parametrize("runner", list(_runner_params()))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_graph_builds_for_the_runner_without_leaking_launcher_paths(case, runner, graphs):
    proto, _, options = graphs(case, runner)
    fns = dict(pickled_fns(proto))
    assert fns, "no Python function in the graph: nothing was built"
    assert leaked_paths(proto, case.inputs) == {}
    # The workers' environment is the one the options name (the image, or the worker pool).
    environments = list(proto.components.environments.values())
    portable = options.view_as(PortableOptions)
    if runner.startswith("dataflow"):
        cloud, worker = options.view_as(GoogleCloudOptions), options.view_as(WorkerOptions)
        assert (cloud.project, cloud.region, worker.max_num_workers, worker.machine_type) == (
            "polyspan-test", "europe-west4", 40, "n2-highmem-4")
        assert all(env.urn == common_urns.environments.DOCKER.urn for env in environments)
        assert {beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
                for env in environments} == {IMAGE}
    elif portable.environment_type == "DOCKER":
        assert {beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
                for env in environments if env.urn == common_urns.environments.DOCKER.urn} == {IMAGE}
    else:
        assert {beam_runner_api_pb2.ExternalPayload.FromString(env.payload).endpoint.url
                for env in environments if env.urn == common_urns.environments.EXTERNAL.urn} == {"localhost:50000"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_function_unpickles_in_a_fresh_worker_process(case, graphs, tmp_path):
    """A worker has the installed packages and nothing of the launcher's ``__main__`` or working directory."""
    proto, _, _ = graphs(case, "flink-docker")
    payloads = dict(pickled_fns(proto))
    (tmp_path / "fns.pickle").write_bytes(pickle.dumps(payloads))
    script = ("import pickle, sys\n"
              "from apache_beam.internal import pickler\n"
              "fns = pickle.load(open('fns.pickle', 'rb'))\n"
              "failed = []\n"
              "for name, payload in fns.items():\n"
              "    try:\n"
              "        pickler.loads(payload)\n"
              "    except Exception as err:\n"
              "        failed.append(f'{name}: {type(err).__name__}: {err}')\n"
              "print('\\n'.join(failed) or f'ok {len(fns)}')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"ok {len(payloads)}", done.stdout


def test_bad_dataflow_options_fail_at_construction():
    """Beam's validator (no credentials needed) stops a run whose options Dataflow would reject."""
    case = CASES[0]
    with pytest.raises(ValueError, match="num_workers"):  # more workers to start with than the maximum
        case.configure_and_build(RUNNERS["dataflow-image"] + ["--num_workers=60"])
    with pytest.raises(ValueError, match="project"):  # a project number where the id is wanted
        case.configure_and_build(RUNNERS["dataflow-image"] + ["--project=123456789"])


@needs_dataflow
def test_setup_file_ships_every_module_to_dataflow_workers(graphs):
    """``--setup_file ./setup.py`` instead of an image: the package Dataflow stages must hold every module
    and the embedded samples (nothing is read from the launcher's checkout)."""
    case = CASES[0]
    argv = RUNNERS["dataflow-image"][:-2] + [f"--setup_file={REPO_ROOT / 'setup.py'}"]
    pipeline, _, options = case.configure_and_build(argv)
    assert options.view_as(SetupOptions).setup_file.endswith("setup.py")
    proto = runner_proto(pipeline, options)
    staged = {}
    for env in proto.components.environments.values():
        for artifact in env.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(artifact.role_payload)
            staged[role.staged_name] = beam_runner_api_pb2.ArtifactFilePayload.FromString(artifact.type_payload).path
    assert "workflow.tar.gz" in staged, sorted(staged)
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        shipped = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    wanted = {str(path.relative_to(REPO_ROOT)) for package in ("schemas", "alignment", "pipelines", "trainer")
              for path in (REPO_ROOT / package).rglob("*.py") if "__pycache__" not in path.parts}
    wanted |= {str(path.relative_to(REPO_ROOT)) for path in SAMPLES.iterdir() if path.is_file()}
    assert wanted - shipped == set()


@pytest.mark.parametrize("runner", ["flink-docker", pytest.param("dataflow-image", marks=needs_dataflow)])
def test_mention_samples_are_combined_before_any_shuffle(graphs, runner):
    """Hot keys: the mentions ParsePages emits (millions for a popular entity) reach a GroupByKey only through
    the per-bundle sampler, so what is shuffled is at most ``k`` mentions per link target and bundle, never all
    of them. It is fused with ParsePages (a ParDo after a ParDo), so the mentions never leave the worker."""
    case = next(c for c in CASES if c.name == "wiki_mrc")
    proto, _, _ = graphs(case, runner)
    mentions = output_of(proto, "WikiToMrc/ParsePages/ParDo(ParsePages)", "mention")
    readers = consumers(proto, mentions)
    assert [t.unique_name for t in readers] == ["WikiToMrc/SampleMentions/InBundle"]
    assert readers[0].spec.urn == common_urns.primitives.PAR_DO.urn
    sampled = consumers(proto, readers[0].outputs["None"])
    assert [t.spec.urn for t in sampled] == [GROUP_BY_KEY], [t.unique_name for t in sampled]


def test_a_hot_key_is_sampled_with_bounded_memory(beam_options):
    """One link target with 20,000 mentions among 3,000 cold ones, on a real runner with a table budget far
    below their size: the sample is the ``k`` smallest ranks of all the hot key's mentions, every count is exact,
    and the table never holds more than its budget or a target more than ``2k`` mentions."""
    from pipelines.wiki_mrc.pipeline import SampleMentions, SampleMentionsInBundle
    from pipelines.wiki_mrc.records import Mention, Sample
    from pipelines.wiki_mrc.examples import stable_hash

    k, budget = 10, 50_000
    hot = [("Hot", Mention(stable_hash(0, "mention", f"Article {i}", i % 7), f"Article {i}", i, i % 7, "Hot"))
           for i in range(20_000)]
    cold = [(f"Cold {i % 1000}", Mention(stable_hash(0, "mention", f"Cold {i}", 0), f"Cold {i}", 10**6 + i, 0,
                                         "Cold")) for i in range(3_000)]
    elements = hot[:10_000] + cold + hot[10_000:]
    fn = SampleMentionsInBundle(k, budget_bytes=budget)
    fn.start_bundle()
    emitted, largest, fullest = 0, 0, 0
    for element in elements:
        emitted += len(list(fn.process(element)))
        largest = max(largest, len(fn.table["Hot"][1]) if isinstance(fn.table.get("Hot"), list) else 1)
        fullest = max(fullest, fn.bytes)
    assert emitted > 0, "the budget never filled: the test would not exercise emission within a bundle"
    assert largest <= 2 * k and fullest <= budget

    from apache_beam.testing.util import assert_that, equal_to
    by_target = {}
    for target, mention in elements:
        by_target.setdefault(target, []).append(mention)
    expected = [(target, Sample.of(len(ms), tuple(sorted(ms, key=Mention.sort_key)[:k]), ()))
                for target, ms in by_target.items()]
    with beam.Pipeline(options=beam_options) as p:
        samples = (p
                   | beam.Create(elements, reshuffle=False)
                   | SampleMentions(k, budget_bytes=budget))
        assert_that(samples, equal_to(expected))
