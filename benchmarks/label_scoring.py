"""Label scoring vs generate+parse on the embedded Gemma-3-270M, side by side in one run.

200 short classification prompts from the upstream evaluation sets (offensive-language tasks of four cultures, the
paper's prompt), the same model and examples for both methods:
  * batched label scoring: one forward pass per batch, log-probability of each label (`HFBackend.score`);
  * the paper's loop: one example at a time, greedy generation of up to 20 tokens, then upstream's parser.
Prints examples/s of each, their agreement, generate+parse's invalid rate, peak RSS, and as its last line
`label_scoring ratio: X` (scoring speed / generation speed).

    .venv/bin/python benchmarks/label_scoring.py [--n 200] [--dtype float32]
"""
import argparse, json, resource, time
from culturellm.data import upstream_file
from culturellm.hf import HFBackend

PROMPT = 'if the following sentence is offensive, just say "OFF", otherwise, say "NOT_OFF" without explanation: {x}'
SOURCES = [("Arabic/OffensEval2020/OffensEval.jsonl", "tweet"), ("Turkey/OffensEval2020/OffensEval.jsonl", "tweet"),
           ("Germany/GermEval/germeval2018.jsonl", "tweet"), ("Spanish/AMI IberEval 2018_offens/data-2.jsonl", "data")]


def examples(n):
    "The n/4 shortest texts of each source (short prompts), as chat conversations."
    convs = []
    for path, field in SOURCES:
        rows = [json.loads(l) for l in upstream_file(path).read_text().splitlines() if l.strip()]
        texts = sorted((r[field] for r in rows), key=len)[: n // len(SOURCES)]
        convs += [[{"role": "user", "content": PROMPT.format(x=t)}] for t in texts]
    return convs


def upstream_parse(text):
    "Upstream's parser for the offensive family: 'not' -> NOT, 'off' -> OFF, else invalid."
    t = text.lower()
    return "NOT_OFF" if "not" in t else "OFF" if "off" in t else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    convs = examples(args.n)
    model = HFBackend("gemma-3-270m", dtype=args.dtype, batch_size=16)
    model.score(convs[:4], ["OFF", "NOT_OFF"]); model.chat(convs[:1], max_tokens=4)      # warm-up

    start = time.perf_counter()
    scored = [s.best for s in model.score(convs, ["OFF", "NOT_OFF"])]
    scoring_rate = len(convs) / (time.perf_counter() - start)

    start = time.perf_counter()
    generated = [upstream_parse(model.chat([c], max_tokens=20)[0].text) for c in convs]
    generation_rate = len(convs) / (time.perf_counter() - start)

    invalid = sum(g is None for g in generated) / len(convs)
    agree = sum(s == g for s, g in zip(scored, generated)) / len(convs)
    print(f"examples: {len(convs)} ({args.dtype})")
    print(f"batched label scoring: {scoring_rate:.2f} examples/s")
    print(f"one-at-a-time generate+parse: {generation_rate:.2f} examples/s (invalid answers: {invalid:.1%})")
    print(f"agreement of the two methods: {agree:.1%}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"label_scoring ratio: {scoring_rate / generation_rate:.2f}")


if __name__ == "__main__":
    main()
