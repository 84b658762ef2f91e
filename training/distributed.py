"""Multi-process training under torchrun: process group, rank-0 duties, agreement checks.

``torchrun --nproc_per_node=N -m cellseg train CONFIG.yaml`` starts N copies of the trainer; torchrun sets
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. Each rank draws its own balanced minibatches (its crop streams
are seeded by rank), gradients are averaged by :class:`torch.nn.parallel.DistributedDataParallel` (gloo on
CPU, nccl on GPU), and only rank 0 validates and writes checkpoints and logs. Without torchrun
(``WORLD_SIZE`` unset or 1) everything here is a no-op and training runs in one process as before.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import torch
import torch.distributed as dist


class Group:
    """This process's place in the training job (rank 0 of 1 without torchrun)."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        if self.world > 1:
            if device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that validates, logs and writes checkpoints."""
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to run forward/backward through (DDP across ranks; the model itself alone)."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        unused_parameters_stop_learning(model, self.device)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def no_sync(self, net: torch.nn.Module, last: bool):
        """Skip the gradient all-reduce on every backward of a step but its last (accumulation)."""
        return net.no_sync() if self.distributed and not last else nullcontext()

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any (a stop asked of one rank stops all)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise mean over ranks (for logging the step's losses)."""
        if not self.distributed:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world

    def weights_agree(self, model: torch.nn.Module) -> bool:
        """Whether every rank holds the same weights (sums and sums of squares of every tensor)."""
        if not self.distributed:
            return True
        with torch.no_grad():
            stats = torch.stack(
                [torch.stack([p.double().sum(), p.double().pow(2).sum()]) for p in model.state_dict().values()]
            ).flatten()
        gathered = [torch.zeros_like(stats) for _ in range(self.world)]
        dist.all_gather(gathered, stats)
        return all(torch.equal(gathered[0], g) for g in gathered[1:])

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def unused_parameters_stop_learning(model: torch.nn.Module, device: torch.device) -> list[str]:
    """Parameters no forward pass reaches (an encoder's stages beyond ``encoder_depth``) get
    ``requires_grad=False``: DDP then waits for no gradient that never comes. Found with one backward
    pass on a small zero image; returns their names."""
    size = 2 ** getattr(model, "config", None).encoder_depth * 2 if hasattr(model, "config") else 64
    channels = model.config.in_channels if hasattr(model, "config") else 1
    model.zero_grad(set_to_none=True)
    model(torch.zeros(1, channels, size, size, device=device)).float().sum().backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    for n, p in model.named_parameters():
        if n in unused:
            p.requires_grad_(False)
    model.zero_grad(set_to_none=True)
    return unused
