"""CACR with every rank's rows as negatives (trainer/clism_model.cacr_loss, across_ranks=True): two gloo ranks
give the loss, and the gradients DDP averages, of one process over all rows."""
import os

import pytest
import torch
import torch.multiprocessing as mp

from trainer.loop.distributed import all_gather_rows, setup_distributed, teardown
from trainer.objectives.clism_model import cacr_loss
from trainer_fixtures import free_port

SCALE = 20.0
DIM = 8


def _views(rows: int, seed: int = 0) -> list[torch.Tensor]:
    """Three pooled views (target, masked source, source) of ``rows`` sentence pairs, correlated like the
    real ones (each view is the same vector plus noise), so that the loss is neither trivial nor uniform."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(rows, DIM, generator=generator)
    return [base + 0.5 * torch.randn(rows, DIM, generator=generator) for _ in range(3)]


def _rank_main(rank, port, shares, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(len(shares)))
    torch.set_num_threads(1)
    setup_distributed(device="cpu")
    try:
        start = sum(shares[:rank])
        views = [view[start:start + shares[rank]].clone().requires_grad_() for view in _views(sum(shares))]
        loss = cacr_loss(*views, scale=SCALE, across_ranks=True)
        loss.backward()
        gathered, offset = all_gather_rows(views[0].detach())
        torch.save({"loss": loss.detach(), "grads": [v.grad for v in views], "gathered": gathered,
                    "offset": offset}, out_dir / f"rank-{rank}.pt")
    finally:
        teardown()


def _run_ranks(shares, tmp_path):
    mp.start_processes(_rank_main, args=(free_port(), shares, tmp_path), nprocs=len(shares), join=True,
                       start_method="spawn")
    return [torch.load(tmp_path / f"rank-{rank}.pt") for rank in range(len(shares))]


def test_two_ranks_give_the_loss_and_gradients_of_one_process_over_all_rows(tmp_path):
    ranks = _run_ranks([4, 4], tmp_path)
    views = [view.clone().requires_grad_() for view in _views(8)]
    whole = cacr_loss(*views, scale=SCALE)
    whole.backward()
    # Each rank's loss is the mean over its own anchors; their mean is the loss over all 8 rows.
    assert torch.stack([r["loss"] for r in ranks]).mean().item() == pytest.approx(whole.item(), rel=1e-5)
    # Only the rank's own rows get a gradient on that rank, but it includes the other rank's loss (the
    # gather's backward sums it back): DDP's average over 2 ranks then is the one-process gradient.
    for rank, result in enumerate(ranks):
        for local, full in zip(result["grads"], views):
            assert torch.allclose(local / 2, full.grad[4 * rank:4 * rank + 4], atol=1e-6)
    # Against in-batch negatives per rank, the loss differs: the other rank's rows are real negatives.
    per_rank = [cacr_loss(*[view[4 * r:4 * r + 4] for view in _views(8)], scale=SCALE) for r in range(2)]
    assert torch.stack(per_rank).mean().item() < whole.item() - 1e-3


def test_ranks_with_batches_of_different_sizes(tmp_path):
    ranks = _run_ranks([3, 2], tmp_path)
    all_rows = _views(5)[0]
    assert [r["offset"] for r in ranks] == [0, 3]
    for result in ranks:
        assert torch.equal(result["gathered"], all_rows)
    whole = cacr_loss(*_views(5), scale=SCALE)
    weighted = (3 * ranks[0]["loss"] + 2 * ranks[1]["loss"]) / 5  # each rank averages over its own anchors
    assert weighted.item() == pytest.approx(whole.item(), rel=1e-5)
