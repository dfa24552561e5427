"""How close batched label scoring comes to this machine's matmul roofline, measured side by side in one run.

1. The machine's own peak: FLOP/s of large square matrix products (torch.mm) in the model's dtype, best of a few
   repeats after a warm-up.
2. Batched label scoring (`HFBackend.score`) of the upstream offensive-language prompts used by
   `label_scoring.py`: the FLOPs of one pass over the examples are counted exactly with
   `torch.utils.flop_counter.FlopCounterMode` (matmuls and attention), then the same pass is timed without it.
The last line is `scoring_roofline ratio: X`: achieved FLOP/s of scoring / peak matmul FLOP/s (1.0 = the roofline).

    .venv/bin/python benchmarks/scoring_roofline.py [--n 96] [--dtype float32] [--batch-size 16] [--size 2048]
"""
import argparse, time
import torch
from torch.utils.flop_counter import FlopCounterMode
from culturellm.hf import HFBackend
from label_scoring import examples

LABELS = ["OFF", "NOT_OFF"]


def matmul_peak(size: int, dtype: torch.dtype, repeats: int=5) -> float:
    "Best FLOP/s of `size` x `size` matrix products."
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, default=2048, help="matrix size of the peak measurement")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    peak = matmul_peak(args.size, dtype)
    model = HFBackend("gemma-3-270m", dtype=args.dtype, batch_size=args.batch_size)
    convs = examples(args.n)
    model.score(convs[: args.batch_size], LABELS)                       # warm-up
    with FlopCounterMode(display=False) as counter:
        model.score(convs, LABELS)
    flops = counter.get_total_flops()
    start = time.perf_counter()
    model.score(convs, LABELS)
    seconds = time.perf_counter() - start
    achieved = flops / seconds
    print(f"{torch.get_num_threads()} threads, {args.dtype}; peak torch.mm {args.size}x{args.size}: {peak / 1e9:.1f} GFLOP/s")
    print(f"label scoring: {len(convs)} examples x {len(LABELS)} labels, batch {args.batch_size}: {flops / 1e9:.1f} GFLOP "
          f"in {seconds:.2f} s = {achieved / 1e9:.1f} GFLOP/s, {len(convs) / seconds:.1f} examples/s")
    print(f"scoring_roofline ratio: {achieved / peak:.2f}")


if __name__ == "__main__":
    main()
