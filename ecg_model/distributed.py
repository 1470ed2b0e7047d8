"""DistributedDataParallel set-up for ``torchrun --nproc_per_node=N -m ecg_model train ...``.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them training runs in one process.
Backend: nccl when every process has its own GPU, gloo on the CPU.
"""

from __future__ import annotations

import os
from datetime import timedelta
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, *values: float) -> list[float]:
        """Sum numbers over all processes (epoch loss and image counts)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        if self.backend == "nccl":
            t = t.cuda(self.local_rank)
        dist.all_reduce(t)
        return [float(v) for v in t.cpu()]


def init_distributed(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group torchrun set up, if any; returns the context and this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistContext(), device
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        if torch.cuda.device_count() <= local_rank:
            raise RuntimeError(f"process {local_rank} has no GPU of its own ({torch.cuda.device_count()} visible); "
                               f"use --nproc_per_node at most the number of GPUs, or --device cpu")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        # Process 0 may preprocess for a long while before the first barrier.
        dist.init_process_group(backend=backend, timeout=timedelta(hours=3))
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, backend=backend), device


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
