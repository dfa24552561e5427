"""int8 dynamic quantization for inference where the CPU has no native bf16: faster, and does it pick fp32's labels?

The laptop profile's evaluation rows (each task's stratified slice, asked as the base and as the culture baseline
are asked) scored by the embedded Gemma-3-270M in fp32 and with PyTorch's dynamic int8 quantization of its linear
layers (`torch.ao.quantization.quantize_dynamic`: int8 weights, activations quantized per call), in two variants:
every decoder projection (weights per output channel), and only the projections that read a normalized input
(q/k/v, gate/up; o_proj and down_proj, whose inputs carry Gemma's outlier features, stay fp32). The output layer
stays fp32 in both (only the label positions' logits are computed). Each variant's CPU seconds on one thread (robust to
a busy machine, where wall seconds are not), the share of examples whose predicted label equals fp32's, and the
largest log-probability difference. The issue's bar: accepted only if predictions agree with fp32 on >= 99%.
The last line is `int8_dynamic ratio: X`, fp32 CPU seconds / the faster variant's that passes the bar (0 if none does).

    .venv/bin/python benchmarks/int8_dynamic.py [--profile laptop] [--cultures chinese bengali] [--views none culture]
"""
import argparse, time, warnings
import torch
from culturellm.hf import HFBackend, SharedBase, load_weights
from scoring_roofline import evaluation_calls, new_scorer

DECODER = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
VARIANTS = {   # name -> the projections quantized
    "int8 every projection": DECODER,
    "int8 normalized inputs only": ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"],
}


def quantized(folder: str, projections: list):
    "A scorer on fp32 weights with the named projections dynamically quantized to int8 (weights per output channel)."
    model = load_weights(folder, "float32", "cpu")
    chosen = {n: torch.ao.quantization.per_channel_dynamic_qconfig for n, m in model.named_modules()
              if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in projections}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                                   # torch.ao's deprecation notice
        model = torch.ao.quantization.quantize_dynamic(model, chosen, dtype=torch.qint8)
    backend = HFBackend("gemma-3-270m", dtype="float32")
    backend.__dict__["weights"] = SharedBase(model)                       # its own weights, not the process's shared fp32 base
    return backend


def _timed(score, calls) -> tuple[float, list]:
    "CPU seconds of scoring every call, and the scores."
    start = time.process_time()
    got = score(calls)
    return time.process_time() - start, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--cultures", nargs="+", default=["chinese", "bengali"])
    ap.add_argument("--views", nargs="+", default=["none", "culture"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    calls = evaluation_calls(args.profile, args.cultures, args.views)
    n, fp32 = sum(len(c) for c, _, _ in calls), HFBackend("gemma-3-270m", dtype="float32")
    new_scorer(fp32)(calls[:1])
    base_s, reference = _timed(new_scorer(fp32), calls)
    print(f"{n} examples ({', '.join(args.cultures)}; views {', '.join(args.views)}), {torch.backends.cpu.get_cpu_capability()}, one thread")
    print(f"{'fp32':>28}: {base_s:6.1f} CPU s")
    passing = []
    for name, projections in VARIANTS.items():
        backend = quantized(fp32.folder, projections)
        new_scorer(backend)(calls[:1])
        seconds, got = _timed(new_scorer(backend), calls)
        same = sum(a.best == b.best for a, b in zip(reference, got)) / n
        gap = max(abs(a.logprobs[l] - b.logprobs[l]) for a, b in zip(reference, got) for l in a.logprobs)
        print(f"{name:>28}: {seconds:6.1f} CPU s ({base_s / seconds:.2f}x fp32), same prediction as fp32 for {same:.1%}, largest log-probability difference {gap:.3f}")
        if same >= 0.99: passing.append(base_s / seconds)
    print(f"int8_dynamic ratio: {max(passing, default=0.0):.2f}")


if __name__ == "__main__":
    main()
