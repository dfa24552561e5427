"""Memory of a stage's Batch API round: answers held in memory vs kept on disk until read, side by side in one run.

One model's round of N label-scoring requests (20 top log-probabilities each, as the paper-openai profile asks) goes
through the OpenAI-compatible stand-in (`culturellm.serve`, fast deterministic responder, its limits: 50,000 requests
per input file). Each way runs in a fresh process (the stand-in stays in this one), which reports its peak RSS:
  * imports only: the floor every way starts from;
  * held: every answer parsed into memory before any is read (what `_batch` returned before it kept them on disk);
  * stored: `score_each` as the backend does it now, each answer read from the batch store (a table of the response
    cache's sqlite file), a block at a time, when its scores are taken.
Prints each way's peak RSS and its growth over the floor, and last `batch_memory ratio: X` = held growth / stored
growth.

    .venv/bin/python benchmarks/batch_memory.py [--n 50000]
"""
import argparse, os, resource, subprocess, sys, tempfile

WORDS = "family work religion politics trust neighbours children tradition freedom duty elders honour money friends".split()


def conversations(n: int) -> list:
    "n questions of about 60 words each, all different."
    return [[{"role": "user", "content": f"Question {i}: " + " ".join(WORDS[(i * 7 + k) % len(WORDS)] + str(k % 9) for k in range(60)) + " Answer yes or no."}]
            for i in range(n)]


def child(way: str, url: str, n: int) -> None:
    from culturellm.openai_backend import OpenAIBackend, StoredAnswers, _label_scores, request_key
    if way != "imports only":
        api = OpenAIBackend("fast", base_url=url, batch_api=True, poll_seconds=0.05, batch_window_seconds=0.1)
        convs, labels = conversations(n), ["yes", "no"]
        if way == "held":
            bodies = [{"model": "fast", "messages": c, "max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": 20} for c in convs]
            keys = [request_key(b) for b in bodies]
            api.queue.join(keys, bodies); api.queue.wait(keys)
            answers = list(StoredAnswers(keys, api.store))                     # every answer parsed, in memory at once
            scores = [_label_scores(api, d, labels) for d in answers]
        else:
            scores = api.score_each(convs, [labels] * n)
        assert len(scores) == n
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10)        # MB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--child", nargs=2, metavar=("WAY", "URL"))
    args = ap.parse_args()
    if args.child: return child(args.child[0], args.child[1], args.n)
    from culturellm.serve import FastResponder, StandInServer
    with StandInServer(FastResponder()) as server, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CULTURELLM_CACHE": cache, "CULTURELLM_PROGRESS": "0"}
        peak = {way: float(subprocess.run([sys.executable, __file__, "--n", str(args.n), "--child", way, server.url], env=env,
                                          capture_output=True, text=True, check=True).stdout.split()[-1])
                for way in ("imports only", "held", "stored")}
    floor = peak["imports only"]
    for way, mb in peak.items(): print(f"{way:>12}: peak RSS {mb:7.0f} MB (+{mb - floor:.0f} MB over the imports) for a round of {args.n} logprob answers")
    print(f"batch_memory ratio: {(peak['held'] - floor) / max(peak['stored'] - floor, 1):.2f}")


if __name__ == "__main__":
    main()
