"""Does a busy machine move the wall-time probe? The probe's scoring measurement, alone and beside CPU-bound processes.

`walltime.probe_speed` counts CPU seconds on one thread because wall seconds measure the machine's load as much as
the work. This scores the probe's conversations with the embedded Gemma-3-270M three times: with the machine as it is,
then beside as many busy processes (pure-Python loops) as there are cores, then as it is again. For each it prints the
wall and the CPU seconds per prompt token, on one thread (the probe's way) and on the threads torch uses by default
(a plain clock's way). The last line is `probe_under_load ratio: X`, the CPU-seconds rate under load over the rate
alone (the goal: close to 1, where the wall-clock rate moves by several times).

    .venv/bin/python benchmarks/probe_under_load.py [--repeats 2]
"""
import argparse, multiprocessing, os, time
import torch
from culturellm.hf import HFBackend
from culturellm.walltime import one_thread, probe_conversations, _prompt_tokens


def spin(stop):
    while not stop.is_set(): sum(range(10_000))


def rates(backend, convs, tokens, threads_one: bool) -> tuple[float, float]:
    "Wall and CPU seconds per prompt token of scoring the conversations."
    labels = [["yes", "no"]] * len(convs)
    run = lambda: backend.score_each(convs, labels)
    if threads_one:
        with one_thread(): wall, cpu = time.perf_counter(), time.process_time(); run()
    else: wall, cpu = time.perf_counter(), time.process_time(); run()
    return (time.perf_counter() - wall) / tokens, (time.process_time() - cpu) / tokens


def measure(backend, convs, tokens, repeats: int) -> dict:
    "The best of `repeats` rates, one thread and default threads."
    out = {}
    for name, one in (("one thread", True), (f"{torch.get_num_threads()} threads", False)):
        runs = [rates(backend, convs, tokens, one) for _ in range(repeats)]
        out[name] = (min(w for w, _ in runs), min(c for _, c in runs))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    backend, convs = HFBackend("gemma-3-270m"), probe_conversations(16)
    tokens = _prompt_tokens(backend, convs)
    backend.score_each(convs[:2], [["yes", "no"]] * 2)                      # warm-up
    results = {"alone": measure(backend, convs, tokens, args.repeats)}
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(os.cpu_count())]
    for h in hogs: h.start()
    try: results["beside busy processes"] = measure(backend, convs, tokens, args.repeats)
    finally:
        stop.set()
        for h in hogs: h.join()
    results["alone again"] = measure(backend, convs, tokens, args.repeats)
    print(f"{torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; ms per prompt token (wall / CPU):")
    for when, by_threads in results.items():
        print(f"  {when:<22} " + "; ".join(f"{name}: {w * 1e3:.2f} / {c * 1e3:.2f}" for name, (w, c) in by_threads.items()))
    alone = min(results["alone"]["one thread"][1], results["alone again"]["one thread"][1])
    default = next(k for k in results["alone"] if k != "one thread")
    wall_alone = min(results["alone"][default][0], results["alone again"][default][0])
    print(f"wall-clock rate ({default}) under load over alone: {results['beside busy processes'][default][0] / wall_alone:.2f}")
    print(f"probe_under_load ratio: {results['beside busy processes']['one thread'][1] / alone:.2f}")


if __name__ == "__main__":
    main()
