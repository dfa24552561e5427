"""Do bf16 and fp32 pick the same labels? The laptop profile's evaluation rows scored in both dtypes, side by side.

The same requests as `scoring_roofline.py` (each task's stratified slice, asked as the base and as the context
baseline are asked), scored by the embedded Gemma-3-270M once in fp32 and once in bf16. Prints the share of examples
whose predicted label is the same in both, the largest log-probability difference, and each dtype's examples/s (on a
CPU without native bf16, bf16 is emulated and much slower: that is why `dtype: auto` picks fp32 there). The last line
is `dtype_agreement ratio: X`, the agreement (the goal is at least 0.99).

    .venv/bin/python benchmarks/dtype_agreement.py [--profile laptop] [--cultures bengali] [--views none context]
"""
import argparse, time
import torch
from culturellm.hf import HFBackend
from scoring_roofline import evaluation_calls, new_scorer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--cultures", nargs="+", default=["bengali"])
    ap.add_argument("--views", nargs="+", default=["none", "context"])
    args = ap.parse_args()
    calls = evaluation_calls(args.profile, args.cultures, args.views)
    n, scores = sum(len(c) for c, _, _ in calls), {}
    for dtype in ("float32", "bfloat16"):
        start = time.perf_counter()
        scores[dtype] = new_scorer(HFBackend("gemma-3-270m", dtype=dtype))(calls)
        print(f"{dtype}: {n / (time.perf_counter() - start):.2f} examples/s", flush=True)
    same = sum(a.best == b.best for a, b in zip(scores["float32"], scores["bfloat16"])) / n
    gap = max(abs(a.logprobs[l] - b.logprobs[l]) for a, b in zip(scores["float32"], scores["bfloat16"]) for l in a.logprobs)
    print(f"{n} examples ({', '.join(args.cultures)}; views {', '.join(args.views)}), {torch.backends.cpu.get_cpu_capability()}: "
          f"same prediction in fp32 and bf16 for {same:.1%}; largest log-probability difference {gap:.3f}")
    print(f"dtype_agreement ratio: {same:.3f}")


if __name__ == "__main__":
    main()
