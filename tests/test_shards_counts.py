"""Counts as data: ``CountingDoFn`` steps emit their bundles' counts as elements and ``collect_counts`` writes
their sum, exactly, whatever the runner (the in-process FnApiRunner and Prism, a portable runner that reports
metrics its own way)."""
import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.engines.prism import prism_binary
from pipelines.shards import (COUNTS_FILE, CountingDoFn, CountingFlatMap, collect_counts, count, count_drop,
                              read_counts)


class Split(CountingDoFn):
    """A generator process, counting before, between and after its outputs."""

    def process(self, n):
        count("seen")
        if n % 3 == 0:
            count_drop("multiple_of_three")
            return
        yield n
        count("odd" if n % 2 else "even")


class Buffer(CountingDoFn):
    """Counts in process (returning a list) and in finish_bundle, which also emits."""

    def start_bundle(self):
        self.held = []

    def process(self, n):
        self.held.append(n)
        count("buffered")
        return []

    def finish_bundle(self):
        for n in self.held:
            count("flushed")
            yield beam.utils.windowed_value.WindowedValue(n, 0, [beam.transforms.window.GlobalWindow()])


def _halve(n):
    count("halved", 2)
    return [n // 2]


def _pipeline(options, path):
    pipeline = beam.Pipeline(options=options)
    a = pipeline | "A" >> beam.Create(range(50))
    b = pipeline | "B" >> beam.Create(range(100, 102))
    kept = (a, b) | beam.Flatten() | "Split" >> beam.ParDo(Split())
    (kept | "Buffer" >> beam.ParDo(Buffer()) | "Halve" >> beam.ParDo(CountingFlatMap(_halve))
     | "Plain" >> beam.Map(lambda n: n))  # a step that counts nothing needs nothing
    collect_counts(pipeline, path)
    return pipeline


def _expected():
    values = list(range(50)) + [100, 101]
    kept = [n for n in values if n % 3]
    return {"dropped.multiple_of_three": len(values) - len(kept), "seen": len(values),
            "odd": sum(n % 2 for n in kept), "even": sum(1 - n % 2 for n in kept),
            "buffered": len(kept), "flushed": len(kept), "halved": 2 * len(kept)}


RUNNERS = {
    "FnApiRunner": ["--runner=FnApiRunner"],
    "FnApiRunner-2-workers": ["--runner=FnApiRunner", "--direct_num_workers=2",
                              "--direct_running_mode=multi_threading"],
    "PrismRunner": ["--runner=PrismRunner"],
}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_counts_written_beside_the_shards_are_exact(runner, tmp_path):
    args = list(RUNNERS[runner])
    if runner == "PrismRunner":
        binary = prism_binary()
        if binary is None:  # make test builds it; elsewhere it may be missing
            message = "no Prism built: python -m pipelines.engines.prism build"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
        args.append(f"--prism_location={binary}")
    path = str(tmp_path / COUNTS_FILE)
    _pipeline(PipelineOptions(args), path).run().wait_until_finish()
    assert read_counts(path) == _expected()
    assert list(json.loads((tmp_path / COUNTS_FILE).read_text())) == sorted(_expected())


def test_nothing_counted_writes_an_empty_object(tmp_path):
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = pipeline | beam.Create([1, 2]) | beam.Map(lambda n: n)
    collect_counts(pipeline, str(tmp_path / COUNTS_FILE))
    pipeline.run().wait_until_finish()
    assert read_counts(str(tmp_path / COUNTS_FILE)) == {}


def test_a_count_outside_a_counting_step_fails_the_run(tmp_path):
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = pipeline | beam.Create([1]) | beam.Map(lambda n: count("lost"))
    collect_counts(pipeline, str(tmp_path / COUNTS_FILE))
    with pytest.raises(Exception, match="outside a CountingDoFn"):
        pipeline.run().wait_until_finish()


def test_every_dataset_of_a_run_gets_the_run_s_counts(tmp_path):
    pipeline = _pipeline(PipelineOptions(["--runner=FnApiRunner"]), str(tmp_path / "first.json"))
    collect_counts(pipeline, str(tmp_path / "second.json"))  # a second write after the first, as per language
    pipeline.run().wait_until_finish()
    assert read_counts(str(tmp_path / "first.json")) == read_counts(str(tmp_path / "second.json")) == _expected()
