"""Evaluation throughput: batched label scoring vs the paper's generate+parse, side by side in one run.

The laptop profile's evaluation slice (every task of every culture, the profile's stratified `per_task` examples,
its seed and mode) on its base model (the embedded Gemma-3-270M), as the `base` comparison: no system prompt. Both
methods see the same examples, a culture's tasks pooled in one call as `predict_tasks` makes it; neither uses the
response cache. Prints examples/s of each, macro-F1 of each, the
invalid-answer fraction under generate+parse, and as its last line `eval_throughput ratio: X` (scoring / generation).

    .venv/bin/python benchmarks/eval_throughput.py [--profile laptop] [--per-task N]
"""
import argparse, time
import pandas as pd
from culturellm.core import load_profile
from culturellm.evaluate import eval_config, macro_f1, score_generate, score_logprob
from culturellm.llm import LLM, make_backend
from culturellm.tasks import INVALID, all_tasks, load_task, stratified_sample, task_prompt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--per-task", type=int, default=None, help="examples per task (default: the profile's)")
    args = ap.parse_args()
    prof = load_profile(args.profile)
    cfg = eval_config(prof)
    n = args.per_task or cfg["per_task"]
    llm = LLM(make_backend(prof["roles"]["base"]), cache=None, ledger=None, progress=False)
    slices = []
    for task in all_tasks(prof["cultures"]):
        rows = stratified_sample(load_task(task, cfg["mode"])[0], n, cfg["seed"])
        slices.append((task, [[{"role": "user", "content": task_prompt(task, t)}] for t in rows.text], rows.gold.tolist()))
    total = sum(len(c) for _, c, _ in slices)
    timings, f1s, invalid = {}, {}, 0
    by_culture = {}
    for task, convs, gold in slices: by_culture.setdefault(task["culture"], []).append((task, convs, gold))
    for method, scorer in (("label scoring", score_logprob), ("generate+parse", score_generate)):
        start, scores = time.perf_counter(), []
        for jobs in by_culture.values():                                  # a culture's tasks pooled, as predict_tasks does
            for (task, _, gold), preds in zip(jobs, scorer(llm, [(t, c) for t, c, _ in jobs], cfg, cfg["mode"])):
                picked = [p["pred"] for p in preds]
                scores.append(macro_f1(gold, picked, task["labels"]))
                if method == "generate+parse": invalid += sum(p == INVALID for p in picked)
        timings[method], f1s[method] = total / (time.perf_counter() - start), sum(scores) / len(scores)
    print(f"profile {args.profile}: {len(slices)} tasks x {n} examples = {total} examples, base {llm.backend.model_id}, mode {cfg['mode']}")
    for method in timings: print(f"{method}: {timings[method]:.2f} examples/s, mean macro-F1 {f1s[method]:.3f}")
    print(f"generate+parse invalid answers: {invalid}/{total} ({invalid / total:.1%})")
    print(f"eval_throughput ratio: {timings['label scoring'] / timings['generate+parse']:.2f}")


if __name__ == "__main__":
    main()
