"""Layer x layer CKA of a ResNet-18: MinibatchCKA + LayerRecorder against torch_cka.

Both compute the minibatch unbiased CKA (Nguyen et al. 2021) over the block outputs of the
same model on the same random images and batches. The model is cl_robust's CIFAR ResNet
(``--backbone``) or, with ``--model SPEC``, one the library did not define (``torchvision:resnet18``:
torchvision's ImageNet ResNet-18, its blocks and pooling), at ``--image-size``. Each measurement runs in its
own process, forked after the imports (a fresh interpreter would spend seconds importing them again); peak
memory is the largest resident-set growth over the measured call, sampled every 2 ms. Our memory should stay flat as the number of images grows.

    python benchmarks/cka.py                # 2,000 images, about 2 minutes on 2 CPU cores
    python benchmarks/cka.py --images 500   # other sizes
    python benchmarks/cka.py --quick        # seconds: tiny backbone, 64 images, no scaling rows
    python benchmarks/cka.py --model torchvision:resnet18   # a foreign model

Ours runs twice: with float32 features, and with features recorded in bf16 (``cl-robust analyze
--precision bf16``: autocast and channels_last images; the forward pass is most of the cost, and
bf16 is native on CPUs with AMX or AVX-512 BF16). The ratio is torch_cka's time over our fastest
run whose CKA matrix stays within ``BF16_TOLERANCE`` of our float32 one; the table shows both
runs and the difference.

The last line is ``cka ratio: <torch_cka time / our time> (target 5)``.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import block_cka_matrix, count  # noqa: E402
from cl_robust.analysis import block_names  # noqa: E402
from cl_robust.models.backbones import build_backbone  # noqa: E402
from cl_robust.models.foreign import build_module  # noqa: E402

#: How far bf16 features may move our CKA matrix for that run to count in the ratio.
BF16_TOLERANCE = 1e-3
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def measure(work: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``work``; return its result, wall seconds and peak RSS growth in bytes."""
    baseline = resident_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return result, seconds, max(peak, resident_bytes()) - baseline


def reference(model: torch.nn.Module, layers: list[str], images: torch.Tensor, batch_size: int) -> torch.Tensor:
    from torch.utils.data import DataLoader, TensorDataset
    from torch_cka import CKA

    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cka = CKA(model, model, "resnet", "resnet_copy", model1_layers=layers, model2_layers=layers)
        cka.compare(loader)
    return cka.export()["CKA"]


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in a process of its own (:func:`spawn`): seconds, peak memory, layers, CKA matrix."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = (build_module(args.model, option="--model") if args.model else build_backbone(args.backbone)).eval()
    layers = block_names(model)
    size = args.image_size
    images = torch.rand(args.images, 3, size, size, generator=torch.Generator().manual_seed(0))
    if args.worker == "ours":
        def run() -> torch.Tensor:
            return block_cka_matrix(model, layers, images, args.batch_size, args.precision)
    else:
        def run() -> torch.Tensor:
            return reference(model, layers, images, args.batch_size)
    with torch.no_grad():
        block_cka_matrix(model, layers, images[: args.batch_size], args.batch_size, args.precision)  # warm-up: kernel setup
    matrix, seconds, peak = measure(run)
    return {"seconds": seconds, "peak_bytes": peak, "layers": layers, "cka": matrix.tolist()}


def _measure_and_send(args: argparse.Namespace, connection: Connection) -> None:
    connection.send(worker(args))
    connection.close()


def spawn(args: argparse.Namespace, which: str, images: int, precision: str = "32") -> dict[str, Any]:
    """:func:`worker` in a forked child: its memory growth is its own; this process never runs a torch
    operation before the last fork, so no child inherits a busy thread pool."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    measurement = argparse.Namespace(**{**vars(args), "worker": which, "images": images, "precision": precision})
    child = context.Process(target=_measure_and_send, args=(measurement, send))
    child.start()
    send.close()
    try:
        result = receive.recv()
    except EOFError:
        result = None
    child.join()
    if child.exitcode != 0 or result is None:
        sys.exit(f"{which} run failed (exit status {child.exitcode}); its error is above")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=count(4), default=2000,
                        help="images for the comparison, at least 4 (default 2000)")
    parser.add_argument("--batch-size", type=count(4), default=200,
                        help="minibatch size for both, at least 4 (default 200)")
    parser.add_argument("--backbone", default="resnet18", help="cl_robust backbone name (default resnet18)")
    parser.add_argument("--model", default=None,
                        help="a model cl_robust did not define instead: torchvision:NAME, timm:NAME or package.module:callable")
    parser.add_argument("--image-size", type=count(8), default=32, help="side of the random images (default 32)")
    parser.add_argument("--threads", type=count(), default=2, help="torch threads per run (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny backbone and 64 images: a smoke run")
    args = parser.parse_args()
    scaling_sizes = (1000, 4000)
    if args.quick:
        args.images, args.batch_size, args.backbone = 64, 16, "resnet_tiny"
        scaling_sizes = ()

    mine = spawn(args, "ours", args.images)
    mine_bf16 = spawn(args, "ours", args.images, precision="bf16")
    theirs = spawn(args, "torch_cka", args.images)
    scaling = {n: spawn(args, "ours", n) for n in scaling_sizes}
    exact = torch.tensor(mine["cka"])
    difference = (exact - torch.tensor(theirs["cka"], dtype=torch.float64)).abs().max()
    bf16_difference = (exact - torch.tensor(mine_bf16["cka"])).abs().max()
    candidates = [mine] + ([mine_bf16] if bf16_difference <= BF16_TOLERANCE else [])
    fastest = min(candidates, key=lambda result: result["seconds"])

    mib = 2.0**20
    described = f"{args.model} (foreign)" if args.model else f"{args.backbone} (cl_robust)"
    print(f"{described}, {len(mine['layers'])} block outputs, batch {args.batch_size}, "
          f"{args.threads} threads, {args.images} random {args.image_size}x{args.image_size} images")  # fmt: skip
    print(f"{'run':<36}{'images':>8}{'seconds':>10}{'peak MiB':>10}")
    rows = [("ours (MinibatchCKA), float32", args.images, mine),
            ("ours (MinibatchCKA), bf16 features", args.images, mine_bf16), ("torch_cka", args.images, theirs)]
    rows += [("ours (MinibatchCKA), float32", n, result) for n, result in scaling.items()]
    for name, images, result in rows:
        print(f"{name:<36}{images:>8}{result['seconds']:>10.2f}{result['peak_bytes'] / mib:>10.1f}")
    print(f"max |ours - torch_cka| over the CKA matrix: {difference:.2e}")
    print("(torch_cka sums HSIC terms of uncentered float32 Grams; large terms cancel, so its error grows")
    print(" with the feature means; ours centers the features and sums HSIC in float64)")
    print(f"max |ours bf16 - ours float32| over the CKA matrix: {bf16_difference:.2e} "
          f"(counts in the ratio when <= {BF16_TOLERANCE:g})")
    print(f"torch_cka / ours: {theirs['seconds'] / mine['seconds']:.2f} with float32 features, "
          f"{theirs['seconds'] / mine_bf16['seconds']:.2f} with bf16 features; the ratio below uses "
          f"{'bf16' if fastest is mine_bf16 else 'float32'}")
    print(f"cka ratio: {theirs['seconds'] / fastest['seconds']:.2f} (target 5)")


if __name__ == "__main__":
    main()
