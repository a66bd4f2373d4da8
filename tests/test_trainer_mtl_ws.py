"""MTL-WS warm-up (paper 002 eq. 7-8) against a two-language example computed by hand, the adaptation
strategies as data plans, and the few-shot protocol's reproducible sampling (paper 000 Appendix C)."""
import itertools

import pytest
import torch
from torch import nn

from schemas.registry import UnknownNameError
from trainer.adaptation.mixing import plan_data
from trainer.adaptation.mtl_ws import MTLWarmStart, MTLWSConfig, mtl_ws_warmup, table6_config
from trainer.data.few_shot import FEW_SHOT_SIZES, few_shot_plan, sample_ids, summarize_runs


class Scalar(nn.Module):
    """y = w x with loss (w x - y)^2 / 2, so dL/dw = (w x - y) x: every number checkable by hand."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.frozen = nn.Parameter(torch.tensor(7.0, dtype=torch.float64), requires_grad=False)

    def forward(self, x, y, **_extras):
        return {"loss": 0.5 * (self.w * x - y) ** 2}


def _batches(x: float, y: float):
    return itertools.repeat({"x": torch.tensor(x, dtype=torch.float64), "y": torch.tensor(y, dtype=torch.float64)})


def test_warmup_matches_hand_computation():
    model = Scalar(1.0)
    config = MTLWSConfig(iterations=2, inner_steps=2, step_size=0.5, inner_lr=0.1)
    warm = MTLWarmStart(model, {"de": _batches(1.0, 3.0), "es": _batches(2.0, 0.0)}, config)
    record = warm.iteration()
    # de (x=1, y=3) from w=1: grad -2 -> 1.2; grad -1.8 -> 1.38. Moved +0.38.
    # es (x=2, y=0) from w=1: grad 4 -> 0.6; grad 2.4 -> 0.36. Moved -0.64.
    # w = 1 + 0.5 / 2 * (0.38 - 0.64) = 0.935.
    assert model.w.item() == pytest.approx(0.935)
    assert record["update_norm"] == pytest.approx(0.065)
    # Mean inner losses: de (2 + 1.62) / 2; es (2 + 0.72) / 2.
    assert record["inner_loss"] == {"de": pytest.approx(1.81), "es": pytest.approx(1.36)}
    warm.iteration()
    # From 0.935: de -> 1.1415 -> 1.32735 (moved 0.39235); es -> 0.561 -> 0.3366 (moved -0.5984).
    # w = 0.935 + 0.25 * (0.39235 - 0.5984) = 0.8834875.
    assert model.w.item() == pytest.approx(0.8834875)
    assert model.frozen.item() == 7.0 and model.w.grad is None
    assert warm.state_dict()["iterations_done"] == 2
    assert warm.run() == []  # Z iterations are done


def test_warmup_with_one_language_is_a_scaled_step_and_uses_the_factory():
    model = Scalar(1.0)
    made = []

    def factory(params):
        made.append(params)
        return torch.optim.SGD(params, lr=0.1)

    records = mtl_ws_warmup(model, {"de": _batches(1.0, 3.0)},
                            MTLWSConfig(iterations=1, inner_steps=1, step_size=1.0), optimizer_factory=factory)
    # γ = 1 with one language is plain SGD: 1 + 0.1 * 2.
    assert model.w.item() == pytest.approx(1.2) and len(records) == 1 and len(made) == 1
    with pytest.raises(RuntimeError, match="ran out"):
        MTLWarmStart(model, {"de": iter([])}, MTLWSConfig(iterations=1, inner_steps=1)).iteration()


def test_table6_defaults():
    default = MTLWSConfig()
    assert (default.iterations, default.inner_steps, default.step_size, default.inner_lr) == (50, 20, 5e-5, 1e-3)
    assert (table6_config("mbert", "ner").iterations, table6_config("mbert", "ner").inner_steps) == (100, 5)
    with pytest.raises(ValueError, match="known"):
        table6_config("mbert", "pos")


def test_adaptation_data_plans():
    translated = {"de": "/d/de", "es": "/d/es"}
    sizes = {"/d/en": 1000, "/d/de": 800, "/d/es": 600}
    assert plan_data("zero-shot", "/d/en").train == [("/d/en", 1.0)]
    assert plan_data("to", "/d/en", translated, target="de").train == [("/d/de", 1.0)]
    assert plan_data("bilingual", "/d/en", translated, target="es", sizes=sizes).train == \
        [("/d/en", 1000.0), ("/d/es", 600.0)]
    assert plan_data("mtl", "/d/en", translated, sizes=sizes).train == \
        [("/d/en", 1000.0), ("/d/de", 800.0), ("/d/es", 600.0)]
    plan = plan_data("mtl-ws", "/d/en", translated)
    assert plan.train == [("/d/en", 1.0)] and plan.warmup == translated
    with pytest.raises(ValueError, match="target"):
        plan_data("to", "/d/en", translated)
    assert plan_data("translate-train", "/d/en", translated, target="de").train == [("/d/de", 1.0)]
    with pytest.raises(UnknownNameError, match="unknown adaptation 'translate-test'; choose one of zero-shot, "
                                               "to \\(translate-train\\), bilingual"):
        plan_data("translate-test", "/d/en")


def test_few_shot_sampling_is_reproducible():
    ids = [f"q{n}" for n in range(3000)]
    plan = few_shot_plan(ids)
    assert len(plan) == 25 and [len(plan[(size, 0)]) for size in FEW_SHOT_SIZES] == list(FEW_SHOT_SIZES)
    # Same seed, same ids, whatever order the data comes in; nested sizes; other seeds differ.
    assert sample_ids(list(reversed(ids)), 128, 3) == plan[(128, 3)]
    assert set(plan[(64, 2)]) < set(plan[(128, 2)])
    assert set(plan[(64, 0)]) != set(plan[(64, 1)])
    assert len(set(plan[(1024, 4)])) == 1024
    with pytest.raises(ValueError, match="cannot sample"):
        sample_ids(ids[:10], 64, 0)
    with pytest.raises(ValueError, match="duplicate"):
        sample_ids(["a", "a", "b"], 1, 0)


def test_few_shot_summary():
    runs = [{"size": 64, "seed": s, "metrics": {"f1": f}} for s, f in enumerate([40.0, 44.0, 42.0, 46.0, 38.0])]
    runs.append({"size": 128, "seed": 0, "metrics": {"f1": 50.0}})
    summary = summarize_runs(runs)
    # Mean 42, squared deviations 4 + 4 + 0 + 16 + 16 = 40, sample variance 10.
    assert summary[64]["f1"] == {"mean": 42.0, "std": pytest.approx(10 ** 0.5), "min": 38.0, "max": 46.0, "runs": 5}
    assert summary[128]["f1"]["std"] == 0.0
    with pytest.raises(ValueError, match="two runs"):
        summarize_runs(runs + [runs[0]])
