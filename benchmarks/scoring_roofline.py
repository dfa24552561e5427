"""How close label scoring comes to this machine's matmul roofline, old scorer and new side by side in one run.

The requests are the laptop profile's evaluation rows: for each task of the chosen cultures, its stratified slice
(`evaluate.per_task` rows) asked as the base model is asked (no system prompt) and as the context baseline is asked
(the culture's system prompt and context paragraph). The old code made one call per task, 16 requests at a time in
input order; the new `predict_tasks` pools every task of a culture and view into one `score_each` call.

1. The machine's own peak: FLOP/s of large square matrix products (torch.mm) in the dtype used, best of a few repeats.
2. Each scorer on the same requests, timed, and its FLOPs counted exactly (`torch.utils.flop_counter.FlopCounterMode`):
   *executed* FLOPs, padding and discarded logits included.
3. *Useful* FLOPs, the same for both scorers: every distinct token run once and only the logits that are read, i.e.
   per task the prompts' shared prefix once (system prompt and task instruction), each prompt's own tokens, each label path's tokens, plus the output layer
   at the positions whose next-token distribution scores a label (matmuls of the decoder and attention over the
   context, counted analytically).

Prints both scorers' executed and useful GFLOP, seconds, examples/s, the agreement of their predictions, and as its
last line `scoring_roofline ratio: X`: useful FLOP/s of the new scorer / peak matmul FLOP/s (1.0 = the roofline).

    .venv/bin/python benchmarks/scoring_roofline.py [--profile laptop] [--cultures arabic bengali] [--dtype auto]
"""
import argparse, time
import torch
from torch.utils.flop_counter import FlopCounterMode
from culturellm.core import load_profile
from culturellm.evaluate import SYSTEMS, eval_config
from culturellm.hf import HFBackend, common_prefix, label_paths, resolve_dtype
from culturellm.tasks import culture_tasks, load_task, stratified_sample, task_prompt
from legacy_scoring import legacy_score


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


def evaluation_calls(profile: str, cultures: list, views: list) -> list:
    "(conversations, labels, culture and view) of each task's requests in the profile's evaluation of these cultures and views."
    cfg, calls = eval_config(load_profile(profile)), []
    for culture in cultures:
        for task in culture_tasks(culture):
            rows = stratified_sample(load_task(task, cfg["mode"])[0], cfg["per_task"], cfg["seed"])
            labels = [task["verbalizers"][l] for l in task["labels"]]
            for view in views:
                context = SYSTEMS[view](culture, cfg["mode"])
                calls.append(([context + [{"role": "user", "content": task_prompt(task, t)}] for t in rows.text], labels, (culture, view)))
    return calls


def flops_per_token(model) -> tuple[int, int, int, int]:
    "Decoder matmul FLOPs per token (output layer excluded), output-layer FLOPs per kept position, layers, attention width."
    head = model.get_output_embeddings()
    body = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head)
    c = model.config
    return 2 * body, 2 * head.weight.numel(), c.num_hidden_layers, c.num_attention_heads * c.head_dim


def useful_flops(backend, calls) -> float:
    "FLOPs of running every distinct token once and computing only the logits that are read."
    with backend.loaded() as model: per_token, per_logit, layers, width = flops_per_token(model)
    attention = lambda start, n: 4 * layers * width * sum(range(start + 1, start + n + 1))   # QK^T and AV over the context
    total = 0.0
    for convs, labels, _ in calls:
        split = [[backend.format.split(backend.format.prompt(c), l) for l in labels] for c in convs]
        heads = [s[0][0] for s in split]
        shared = common_prefix(heads)
        total += shared * per_token + attention(0, shared)
        for head, s in zip(heads, split):
            paths = label_paths([t for _, t in s])
            tokens = len(head) - shared + sum(map(len, paths))
            total += tokens * per_token + attention(shared, len(head) - shared) + sum(attention(len(head), len(p)) for p in paths)
            total += (1 + sum(map(len, paths))) * per_logit
    return total


def old_scorer(model):
    "The old code path: one call per task, the LLM layer handing over 16 requests at a time in input order."
    def score(calls):
        return [s for convs, labels, _ in calls for start in range(0, len(convs), 16) for s in legacy_score(model, convs[start:start + 16], labels)]
    return score


def new_scorer(model):
    "The new code path: `predict_tasks` pools every task of a (culture, view) into one `score_each` call."
    def score(calls):
        groups = {}
        for i, (convs, labels, key) in enumerate(calls): groups.setdefault(key, []).append(i)
        out = {}
        for idx in groups.values():
            got = iter(model.score_each([c for i in idx for c in calls[i][0]], [calls[i][1] for i in idx for _ in calls[i][0]]))
            for i in idx: out[i] = [next(got) for _ in calls[i][0]]
        return [s for i in range(len(calls)) for s in out[i]]
    return score


def measure(name: str, score, calls, useful: float, peak: float) -> dict:
    "Executed FLOPs (counted), seconds (timed without the counter) and predictions of one scorer."
    score(calls[:1])                                                       # warm-up
    with FlopCounterMode(display=False) as counter:
        score(calls)
    executed = counter.get_total_flops()
    start = time.perf_counter()
    preds = [s.best for s in score(calls)]
    seconds = time.perf_counter() - start
    n = sum(len(c) for c, _, _ in calls)
    print(f"{name:>7}: executed {executed / 1e9:8.1f} GFLOP, useful {useful / 1e9:7.1f} GFLOP ({useful / executed:.2f} of executed), "
          f"{seconds:6.1f} s, {n / seconds:5.1f} examples/s; useful {useful / seconds / 1e9:6.1f} GFLOP/s = {useful / seconds / peak:.2f} of peak, "
          f"executed {executed / seconds / 1e9:6.1f} GFLOP/s = {executed / seconds / peak:.2f} of peak")
    return {"preds": preds, "seconds": seconds, "useful_ratio": useful / seconds / peak}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--cultures", nargs="+", default=["arabic", "bengali"])
    ap.add_argument("--views", nargs="+", default=["none", "context"], help="system views: none (base), culture, context")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, default=2048, help="matrix size of the peak measurement")
    args = ap.parse_args()
    dtype = resolve_dtype(args.dtype)
    peak = matmul_peak(args.size, getattr(torch, dtype))
    model = HFBackend("gemma-3-270m", dtype=dtype, batch_size=args.batch_size)
    calls = evaluation_calls(args.profile, args.cultures, args.views)
    useful = useful_flops(model, calls)
    n = sum(len(c) for c, _, _ in calls)
    print(f"{torch.get_num_threads()} threads, {dtype} ({torch.backends.cpu.get_cpu_capability()}); peak torch.mm {args.size}x{args.size}: "
          f"{peak / 1e9:.1f} GFLOP/s")
    print(f"profile {args.profile}: {len(calls)} score calls ({', '.join(args.cultures)}; views {', '.join(args.views)}), {n} examples")
    old = measure("old", old_scorer(model), calls, useful, peak)
    new = measure("new", new_scorer(model), calls, useful, peak)
    agree = sum(a == b for a, b in zip(old["preds"], new["preds"])) / n
    print(f"speed-up new/old: {old['seconds'] / new['seconds']:.2f}x; predictions agree on {agree:.1%} of examples")
    print(f"scoring_roofline ratio: {new['useful_ratio']:.2f}")


if __name__ == "__main__":
    main()
