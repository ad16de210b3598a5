"""Data-parallel training over torch.distributed: one process per device (`torchrun`), each training
the same models on its own share of every batch, the gradients averaged at the one place every
update passes through.

Why no DistributedDataParallel wrapper: DDP averages only gradients produced through the wrapper's
forward, and the methods reach their models through other doors (`generator.sample`, `log_probs`,
`step`, a discriminator's `probability_real` inside a generator loss). Every parameter update of
every method goes instead through `training/optimization.py`'s `descend` (zero, backward, clip,
step), the discriminator's too: `synchronize_gradients` there all-reduces the gradients of the
parameters being stepped, in one flat bucket, before they are clipped. Every rank then clips and
steps the same bytes (an all-reduce hands every rank the same result), so the models never drift
apart, whatever the method computes on the way; a method with state of its own that the gradient
does not carry (a moving baseline folded from its own rewards, a control variate stepped outside
`descend`) says so in `Method.distributed_refusal` and is refused before anything is written.

What is split, and how it adds up:
- Batch sizes are per process (as with DDP): with N processes a step sees N batches. An epoch's
  shuffled order is the same on every rank (the shuffle stream has the run's seed everywhere), cut
  into global batches of N x batch_size rows, each rank taking its contiguous share (`share`): an
  N-process MLE epoch is the one-process epoch with batch N x batch_size. Gradients are averaged,
  weighted by what each rank's loss averages over (`weight`: the counted tokens of an MLE batch),
  so a mean loss gives the doubled batch's gradient up to float summation order. A loss that sums
  over its batch (SeqGAN's policy gradient) averaged so is the doubled batch's loss over N: one
  process's gradient scale, so learning rates and grad_clip keep their meaning.
- Sampling (generated batches, rollouts, negatives) uses each rank's own stream, seeded
  seed + rank x RANK_SEED_OFFSET (rank 0's is the one-process stream): each rank rewards its own
  samples and the gradient average does the rest. D's negatives per refresh are split,
  ceil(negatives / N) per rank, against as many real windows, disjoint across ranks.
- Evaluation, logging, samples and checkpoints are rank 0's alone; rank 0 gathers every rank's
  random streams into the checkpoint, so a run resumes exactly with the same number of processes.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from seqgan_music.errors import SeqganError

RANK_SEED_OFFSET = 7_919_003  # rank r samples from seed + r * this (rank 0: the run's own stream)
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

T = TypeVar("T")


class PeerFailure(SeqganError):
    """Another process of the job failed (or was killed): this one cannot go on alone."""


def launched() -> bool:
    """Whether torchrun (or a test acting as it) started this process as one rank of several."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES) and int(os.environ["WORLD_SIZE"]) > 1


def environment_rank() -> int:
    """This process's rank as torchrun's environment gives it (0 outside torchrun), before joining."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    """Rank 0 alone writes the run folder, holds its lock and reports progress."""
    return rank() == 0


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def join(device: torch.device) -> torch.device:
    """Join torchrun's process group (once per process; gloo on CPUs, NCCL on CUDA) and return the
    device this rank trains on: cuda:LOCAL_RANK on CUDA, one device per local rank."""
    if not launched():
        return device
    if device.type == "mps":
        raise SeqganError("training on several processes needs CUDA or the CPU, not MPS: use --device cpu")
    if device.type == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise SeqganError(f"local rank {local} has no GPU of its own ({torch.cuda.device_count()} visible): "
                              "start at most one process per GPU (--nproc)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device), **({"device_id": device} if device.type == "cuda" else {}))
    return device


def leave() -> None:
    """Leave the process group (the end of a command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _bucket_device(parameters: Sequence[Tensor]) -> torch.device:
    return parameters[0].device if parameters else torch.device("cpu")


def synchronize_gradients(parameters: Sequence[Tensor], weight: float | Tensor = 1.0) -> None:
    """Replace each parameter's gradient by the ranks' weighted mean, sum_r w_r g_r / sum_r w_r, in one
    all-reduce. A parameter no rank gave a gradient keeps none (the optimizer then skips it, as one
    process would); one that some ranks did not reach counts as zero there. Nothing happens in a
    single process, so one-process runs are bit for bit what they were."""
    if not active() or not parameters:
        return
    device = _bucket_device(parameters)
    weight = torch.as_tensor(weight, dtype=torch.float32, device=device).reshape(1)
    parts = [p.grad.detach().flatten().float() * weight if p.grad is not None
             else torch.zeros(p.numel(), dtype=torch.float32, device=device) for p in parameters]
    present = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=device)
    bucket = torch.cat([*parts, present, weight])
    _collective(dist.all_reduce, bucket)
    total = bucket[-1]
    reached = bucket[-1 - len(parameters):-1].cpu().tolist()  # the one host read of a step
    offset = 0
    for parameter, count in zip(parameters, reached):
        size = parameter.numel()
        if count > 0:
            parameter.grad = (bucket[offset:offset + size] / total).view_as(parameter).to(parameter.dtype)
        offset += size


def share(rows: Tensor) -> Tensor:
    """This rank's contiguous share of a global batch of row indices (the same batch on every rank)."""
    if not active():
        return rows
    return torch.tensor_split(rows, world_size())[rank()]


def shares(batches: Iterable[Tensor]) -> list[Tensor]:
    """This rank's share of each global batch; with several ranks, a last batch with fewer rows than
    ranks is left out, so that every rank has rows in every step (each step is a collective)."""
    return [share(batch) for batch in batches if len(batch) >= world_size()]


def per_rank(count: int) -> int:
    """A per-unit count (negatives) split across the ranks: ceil(count / world_size) each."""
    return math.ceil(count / world_size())


def rank_seed(seed: int) -> int:
    """The seed of this rank's sampling streams: the run's seed on rank 0."""
    return seed + rank() * RANK_SEED_OFFSET


def resume_options() -> str:
    """What `train --resume RUN` needs to go on with as many processes as now: nothing in one process."""
    if not active():
        return ""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size()))
    machines = world_size() // max(local, 1)
    return f" --nproc {local}" + (f" --nnodes {machines} (with its --node-rank and --rdzv-endpoint on each machine)"
                                  if machines > 1 else "")


def agree(flag: bool) -> bool:
    """True on every rank when it is true on any (a stop asked for in one process stops them all)."""
    if not active():
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor([float(flag)], device=device)
    _collective(dist.all_reduce, value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather_objects(item: T) -> list[T]:
    """Every rank's `item` (small picklable values: random states), in rank order, on every rank."""
    if not active():
        return [item]
    items: list[Any] = [None] * world_size()
    _collective(dist.all_gather_object, items, item)
    return items


def from_writer(compute: Callable[[], T]) -> T:
    """Rank 0 computes (reads the run folder, checks, writes); every rank gets its result, or the
    same one-line refusal when it raised a SeqganError. Other errors propagate on rank 0, and the
    other ranks stop with a line that names it."""
    if not active():
        return compute()
    box: list[Any] = [None]
    if is_writer():
        try:
            box[0] = ("ok", compute())
        except SeqganError as error:
            box[0] = ("refused", str(error))
        except BaseException as error:
            box[0] = ("failed", f"{type(error).__name__}: {error}")
            _collective(dist.broadcast_object_list, box, src=0)
            raise
    _collective(dist.broadcast_object_list, box, src=0)
    kind, value = box[0]
    if kind == "refused":
        raise SeqganError(value)
    if kind == "failed":
        raise PeerFailure(f"rank 0 failed: {value}")
    return value


def _collective(operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A collective; a peer that has gone (crashed, killed) becomes a PeerFailure, one line."""
    try:
        return operation(*args, **kwargs)
    except RuntimeError as error:  # gloo reports a closed peer as a RuntimeError, NCCL as DistError (one)
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        # "[.../pair.cc:537] Connection closed by peer [host]:port. This is typically caused by...": its first words
        first = re.sub(r"\[[^\]]*\]\s*", "", first).split(". ")[0].strip() or type(error).__name__
        raise PeerFailure(f"another process of this training job has stopped ({first[:160]})") from None
