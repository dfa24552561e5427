"""GPU check: the library's training and scoring paths on an accelerator, each measured against a reference, on a
tiny random Llama and a tiny random Gemma-3 built from configs (no network, no weights to download; minutes).

The two models are built by the library's `culturellm.hf.tiny_random_model` (hidden 64, 2 layers, the configuration
and tokenizer of an embedded model: SmolLM2-135M-Instruct's Llama, Gemma-3-270M's Gemma-3; the Gemma has one
sliding-window layer with a 32-token window, shorter than the prompts, so the sliding path runs), so the vocabulary
and the prompt formats are real. Their weights are drawn with a wide initialisation so that label
log-probabilities are well separated (a near-uniform random model would make every prediction a coin toss between
dtypes). The training rows are the 50 seed questions of Bengali (corrected labels, the prompt format used at test
time); the scored conversations are 32 seed questions under four cultures' system prompts, each with its own scale.

Checks, each independent (a failing one prints FAIL with its numbers and the rest still run):
  * lora_loss[model]: one bf16 batch through the PEFT model: the library's answer-only loss (`finetune.answer_loss`
    on a `LeftPadCollator` batch of `encode_pairs` rows) against transformers' own loss (`model(..., labels=...)` with
    -100 on the prompt and the padding), and the cosine of the two losses' LoRA gradients;
  * lora_train[model]: `finetune.train_lora` on a pairs file, bf16, a few steps: every loss finite and the last below
    the first; its adapter is used by the next two checks;
  * qlora: `train_lora` with the recipe's 4-bit quantization (QLoRA); only on CUDA with bitsandbytes importable;
  * adapter_swap_merge[model]: `HFBackend(adapters="swap")` against `adapters="merge"` on that adapter (label scores
    in fp32, within 0.02, and bf16, within 0.5), and the bare base scored on the shared weights before and after the
    adapter was swapped in (identical), the adapter moving the scores by more than the tolerance;
  * label_scoring[model]: batched label scoring on the device (`HFBackend.score_each` of all 32 conversations; the
    bare base and the trained adapter in the device's default adapter mode, swap on CUDA) against CPU fp32 scoring
    one conversation a call: in fp32 (log-probabilities within 0.02: batching, padding and prompt caching on the
    device) and in bf16 (what `dtype: auto` picks on a GPU: within 0.5, as the tiny models' logits are large), the
    same prediction on at least 99% of the conversations, a flip whose fp32 margin is under the tolerance counting
    as a tie;
  * accelerate_launch: the README's `accelerate launch … culturellm finetune` with `--num_processes 1` (plus `--cpu`
    on a CPU), in a scratch project (as tests/test_multiprocess_training.py does with 2 processes): one adapter, one
    registry line, `world_size` 1 in training.json.

Each check prints one line `CHECK <name>: ok|FAIL|skipped (<why>) <numbers>`, and the last line is
`gpu_check: N ok, M failed, K skipped` (exit status 1 if any failed). Without CUDA it runs the same checks on the
CPU as a dry run (bf16 emulated, QLoRA skipped): that proves the script, not the GPU paths. It is not part of
`make test` nor of `make bench` (benchmarks/run_all.py): it means something only on a GPU machine, where it takes
well under 8 minutes on one GPU.

    .venv/bin/python benchmarks/gpu_check.py [--device cuda] [--models llama gemma] [--gemma-window 32] [--keep DIR]
"""
import argparse, json, math, os, shutil, socket, subprocess, sys, tempfile, time, traceback
from pathlib import Path
import torch

GEMMA_WINDOW = 32          # the tiny Gemma's sliding window (--gemma-window): shorter than the prompts (67-101 tokens)
INIT = 0.3                 # initializer_range of the tiny models: log-probabilities of the labels well apart
LOSS_RTOL = 2e-3           # |our loss - transformers' loss| / transformers' loss, both in bf16 (logits upcast to fp32)
GRAD_COSINE = 0.99         # cosine of the LoRA gradients of the two losses, at least
TRAIN_STEPS = 8            # optimiser steps of the training checks
TOL = {"float32": 2e-2, "bfloat16": 0.5}   # largest |log-prob gap| of a label against the fp32 reference, by the compared side's dtype
AGREE = 0.99                                # share of equal predictions, at least (a flip where the fp32 margin is under TOL counts as a tie)
CONVERSATIONS, CULTURES = 32, ["bengali", "arabic", "chinese", "german"]
ACCELERATE = Path(sys.executable).parent/"accelerate"
CLI = Path(sys.executable).parent/"culturellm"


class Skip(Exception): "A check that cannot run here; its message says why."


RESULTS = []

def check(name: str, fn, *args):
    "Run one check; print its line. `fn` returns (passed, numbers) or raises Skip."
    start = time.perf_counter()
    try:
        passed, numbers = fn(*args)
        status = "ok" if passed else "FAIL"
    except Skip as e: status, numbers = f"skipped ({e})", ""
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        status, numbers = "FAIL", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    RESULTS.append(status.split()[0])
    print(f"CHECK {name}: {status} {numbers} [{time.perf_counter() - start:.1f} s]".replace("  ", " "), flush=True)


# ---- the tiny models --------------------------------------------------------------------------------------------

class Tiny:
    "A tiny random model saved in `folder` with a real tokenizer; `spec` is its base role spec."
    def __init__(self, kind: str, folder: Path, device: str, spec: dict):
        self.kind, self.folder, self.device = kind, folder, device
        self.template = spec["template"]                              # as the registry has it for SmolLM2 and Gemma-3
        self.spec = {**spec, "device": device}
        self.adapter = None                                           # written by lora_train


def build(kind: str, folder: Path, device: str) -> Tiny:
    "A tiny random Llama (SmolLM2's configuration and tokenizer) or Gemma-3 (Gemma-3-270M's), saved in fp32."
    from culturellm.hf import tiny_random_model
    like = "smollm2-135m-instruct" if kind == "llama" else "gemma-3-270m"
    return Tiny(kind, folder, device, tiny_random_model(like, folder, init=INIT, window=GEMMA_WINDOW))


def recipe(**train) -> dict:
    "The laptop profile's LoRA recipe (its finetune_config), no dropout, bf16, a few steps at a higher rate for a random model."
    from culturellm.core import load_profile
    from culturellm.finetune import finetune_config
    cfg = finetune_config(load_profile("laptop"))
    return {**cfg, "seed": 0, "quantize": None, "lora": {**cfg["lora"], "dropout": 0.0},
            "train": {**cfg["train"], "dtype": "bfloat16", "epochs": 1, "max_steps": TRAIN_STEPS, "batch_size": 8, "lr": 1e-2, **train}}


def training_rows() -> list[dict]:
    from culturellm.sft import rows_for, seed_items
    return rows_for("bengali", seed_items(), "corrected")[0]


def conversations() -> tuple[list, list]:
    "32 seed questions under four cultures' system prompts, and each one's own labels (its scale's codes)."
    from culturellm.sft import chat
    from culturellm.wvs import load_questions
    picked = load_questions().sample(CONVERSATIONS, random_state=0)
    convs = [chat(CULTURES[i % len(CULTURES)], q.text, q, "corrected") for i, (_, q) in enumerate(picked.iterrows())]
    return convs, [[str(c) for c in q.scale] for _, q in picked.iterrows()]


# ---- the checks -------------------------------------------------------------------------------------------------

def lora_loss(m: Tiny):
    from culturellm.finetune import LeftPadCollator, _lora_model, answer_loss, encode_pairs
    from culturellm.hf import known_warnings_silenced, prompt_format_of
    from culturellm.sft import hf_pairs
    fmt = prompt_format_of(m.spec)
    rows = encode_pairs(hf_pairs(training_rows()[:4], fmt), fmt)
    batch = {k: v.to(m.device) for k, v in LeftPadCollator(fmt.tokenizer.pad_token_id)(rows).items()}
    torch.manual_seed(0)
    with known_warnings_silenced(): model, _ = _lora_model(str(m.folder), "bfloat16", recipe())
    model.to(m.device).train()
    for p in model.parameters():                 # LoRA's B starts at zero: give it weights, so A's gradients are not all zero
        if p.requires_grad: torch.nn.init.normal_(p, std=0.02)
    width = batch["input_ids"].shape[1]
    labels = batch["input_ids"].clone()
    for i, n in enumerate(batch["answer_len"].tolist()): labels[i, :width - n] = -100     # the prompt and the padding
    lora = [p for p in model.parameters() if p.requires_grad]

    def loss_and_grad(fn):
        model.zero_grad(set_to_none=True)
        loss = fn()
        loss.backward()
        return loss.item(), torch.cat([p.grad.float().flatten() for p in lora])
    ours, g_ours = loss_and_grad(lambda: answer_loss(model, batch))
    theirs, g_theirs = loss_and_grad(lambda: model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                                   position_ids=batch["position_ids"], labels=labels).loss)
    cosine = torch.nn.functional.cosine_similarity(g_ours, g_theirs, dim=0).item()
    gap = abs(ours - theirs) / abs(theirs)
    answer_tokens = int((labels != -100).sum())
    return (gap <= LOSS_RTOL and cosine >= GRAD_COSINE,
            f"answer-only loss {ours:.5f} vs transformers {theirs:.5f} (relative gap {gap:.1e}, tolerance {LOSS_RTOL:.0e}); "
            f"LoRA gradient cosine {cosine:.5f} (>= {GRAD_COSINE}); batch {tuple(labels.shape)}, {answer_tokens} answer tokens")


def write_pairs(m: Tiny, path: Path) -> Path:
    from culturellm.core import write_jsonl
    from culturellm.hf import prompt_format_of
    from culturellm.sft import hf_pairs
    return write_jsonl(path, hf_pairs(training_rows(), prompt_format_of(m.spec)))


def lora_train(m: Tiny, work: Path):
    from culturellm.finetune import train_lora
    out = work/f"{m.kind}-lora"
    manifest = train_lora(write_pairs(m, work/f"{m.kind}.hf.jsonl"), out, m.spec, recipe())
    losses = [l["loss"] for l in manifest["losses"]]
    adapter = out/"adapter"
    if (adapter/"adapter_config.json").exists(): m.adapter = str(adapter)
    passed = (len(losses) == TRAIN_STEPS and all(map(math.isfinite, losses)) and losses[-1] < losses[0] and m.adapter is not None
              and manifest["dtype"] == "bfloat16")
    return passed, (f"{manifest['steps']} steps in {manifest['seconds']} s ({manifest['dtype']}, world_size {manifest['world_size']}), "
                    f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; adapter {'written' if m.adapter else 'MISSING'}")


def qlora(m: Tiny, work: Path):
    if not m.device.startswith("cuda"): raise Skip("no cuda")
    try: import bitsandbytes
    except Exception as e: raise Skip(f"bitsandbytes not importable: {type(e).__name__}")
    from culturellm.finetune import train_lora
    manifest = train_lora(write_pairs(m, work/f"{m.kind}-q.hf.jsonl"), work/f"{m.kind}-qlora", m.spec, {**recipe(), "quantize": "4bit"})
    losses = [l["loss"] for l in manifest["losses"]]
    passed = manifest["quantized"] == "4bit-nf4" and len(losses) == TRAIN_STEPS and all(map(math.isfinite, losses)) and losses[-1] < losses[0]
    return passed, (f"quantized {manifest['quantized']}, bitsandbytes {bitsandbytes.__version__}, {manifest['steps']} steps in "
                    f"{manifest['seconds']} s, loss {losses[0]:.3f} -> {losses[-1]:.3f}, peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


def logprobs(scores) -> list[float]: return [v for s in scores for v in s.logprobs.values()]

def largest_gap(a, b) -> float: return max(abs(x - y) for x, y in zip(logprobs(a), logprobs(b)))


def adapter_swap_merge(m: Tiny):
    from culturellm.hf import HFBackend
    if m.adapter is None: raise Skip("no adapter: lora_train failed")
    convs, labels = conversations()
    parts, passed = [], True
    for dtype in ("float32", "bfloat16"):
        make = lambda **kw: HFBackend(str(m.folder), dtype=dtype, device=m.device, template=m.template, **kw)
        base = make()                                                   # the process's shared base in this dtype
        before = base.score_each(convs, labels)
        swap = make(adapter=m.adapter, adapters="swap")
        swapped = swap.score_each(convs, labels)
        after = make().score_each(convs, labels)                        # the same shared base: the adapter switched off again
        merged = make(adapter=m.adapter, adapters="merge").score_each(convs, labels)
        gap, leak, moved = largest_gap(swapped, merged), largest_gap(before, after), largest_gap(before, swapped)
        same = sum(a.best == b.best for a, b in zip(swapped, merged))
        shared = swap.weights is base.weights
        ok = gap <= TOL[dtype] and leak <= 1e-6 and moved > TOL[dtype] and shared
        passed &= ok
        parts.append(f"{dtype}: |swap - merge| <= {gap:.2e} (tolerance {TOL[dtype]:.0e}), same prediction {same}/{len(convs)}, "
                     f"base before/after the swap {leak:.1e}, adapter moved scores by {moved:.2f}, one shared base {shared}")
        del base, swap
    return passed, "; ".join(parts)


def margin(s) -> float:
    "How far the best label is ahead of the next one."
    top = sorted(s.logprobs.values())[-2:]
    return top[-1] - top[0]


def label_scoring(m: Tiny):
    from culturellm.hf import HFBackend, adapter_mode
    convs, labels = conversations()
    parts, passed = [], True
    for adapter in [None] + ([m.adapter] if m.adapter else []):
        reference = HFBackend(str(m.folder), adapter=adapter, dtype="float32", device="cpu", template=m.template)
        reference = [reference.score_each([c], [l])[0] for c, l in zip(convs, labels)]     # one conversation a call: no batching
        for dtype in ("float32", "bfloat16"):
            scored = HFBackend(str(m.folder), adapter=adapter, dtype=dtype, device=m.device, template=m.template).score_each(convs, labels)
            flips = [r for s, r in zip(scored, reference) if s.best != r.best]
            ties = sum(margin(r) < TOL[dtype] for r in flips)
            same, gap = 1 - len(flips) / len(convs), largest_gap(scored, reference)
            passed &= 1 - (len(flips) - ties) / len(convs) >= AGREE and gap <= TOL[dtype]
            parts.append(f"{'base' if adapter is None else 'adapter (' + adapter_mode('auto', m.device) + ')'} {dtype}: same prediction {same:.0%}"
                         + (f" ({ties} of the {len(flips)} flips within a tie)" if flips else "") + f", largest gap {gap:.2e} (tolerance {TOL[dtype]:.0e})")
    if m.adapter is None: passed, parts = False, parts + ["adapter: none (lora_train failed)"]
    return passed, f"{m.device} batched vs cpu fp32 one conversation a call, {len(convs)} conversations (>= {AGREE:.0%} the same): " + "; ".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(m: Tiny, work: Path):
    "The README's `accelerate launch … culturellm finetune`, one process, in a scratch project whose base is the tiny model."
    from culturellm.core import read_jsonl
    from culturellm.data import ScratchProject
    if not ACCELERATE.exists() or not CLI.exists(): raise Skip(f"{ACCELERATE.name} or {CLI.name} not installed beside {sys.executable}")
    profile = ("cultures: [bengali]\nwvs: {label_rule: valid_mean}\n"
               f"roles:\n  base: {{backend: hf, model: {m.folder}, device: {m.device}, template: {m.template}}}\n"
               "sft: {mode: corrected, sizes: [0]}\n"
               f"finetune: {{recipe: laptop-lora, lora: {{dropout: 0.0}}, train: {{epochs: 1, max_steps: {TRAIN_STEPS // 2}, batch_size: 8, dtype: bfloat16}}}}\n")
    project = ScratchProject(profiles={"gpucheck": profile}, folder=work/"home")
    home, env = project.folder, {**os.environ, **project.env}
    built = subprocess.run([str(CLI), "sft", "build", "--profile", "gpucheck", "--culture", "bengali"], capture_output=True, text=True, env=env)
    if built.returncode: return False, f"sft build failed: {built.stderr.strip()[-500:]}"
    command = [str(ACCELERATE), "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               *(["--cpu"] if m.device == "cpu" else []), "--main_process_port", str(free_port()),
               str(CLI), "finetune", "--profile", "gpucheck", "--culture", "bengali"]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if run.returncode: return False, f"exit {run.returncode}: {(run.stdout + run.stderr).strip()[-800:]}"
    model = home/"data/generated/gpucheck/models/culturellm-bengali"
    record = json.loads((model/"training.json").read_text())
    registered = [r["name"] for r in read_jsonl(home/"data/generated/gpucheck/models/registry.jsonl")]
    files = sorted(p.name for p in model.iterdir())
    reported = run.stdout.count("culturellm-bengali: ")
    passed = (record["world_size"] == 1 and files == ["adapter", "training.json"] and (model/"adapter/adapter_model.safetensors").exists()
              and registered == ["culturellm-bengali"] and reported == 1 and record["steps"] == TRAIN_STEPS // 2)
    return passed, (f"`accelerate launch --num_processes 1{' --cpu' if m.device == 'cpu' else ''} culturellm finetune`: exit 0 in {seconds:.0f} s, "
                    f"world_size {record['world_size']}, {record['steps']} steps ({record['dtype']}), model folder {files}, "
                    f"registry {registered}, reported {reported}x")


# ---- main -------------------------------------------------------------------------------------------------------

def versions() -> str:
    import accelerate, peft, transformers
    return f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, accelerate {accelerate.__version__}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda (default where available) or cpu")
    ap.add_argument("--models", nargs="+", default=["llama", "gemma"], choices=["llama", "gemma"])
    ap.add_argument("--keep", help="build the tiny models and write every output in this folder (kept) instead of a temporary one")
    ap.add_argument("--gemma-window", type=int, default=GEMMA_WINDOW, help="the tiny Gemma's sliding window (4096: longer than every prompt)")
    args = ap.parse_args()
    globals()["GEMMA_WINDOW"] = args.gemma_window
    os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("TRANSFORMERS_OFFLINE", "1"); os.environ.setdefault("CULTURELLM_PROGRESS", "0")
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available(): sys.exit("--device cuda, but torch sees no CUDA device")
        where = f"{args.device} ({torch.cuda.get_device_name(args.device)}, CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()})"
    else: where = f"cpu ({torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads): no CUDA device, a DRY RUN of the same checks (bf16 emulated; proves the script, not the GPU paths)"
    print(f"gpu_check on {where}; {versions()}", flush=True)
    start = time.perf_counter()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gpu_check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        models = {}
        for kind in args.models:
            t = time.perf_counter()
            models[kind] = build(kind, work/f"tiny-{kind}", args.device)
            cfg = json.loads((work/f"tiny-{kind}/config.json").read_text())
            print(f"built tiny {kind}: {cfg['model_type']}, hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, vocab {cfg['vocab_size']}, "
                  f"template {models[kind].template} [{time.perf_counter() - t:.1f} s]", flush=True)
        for kind, m in models.items():
            check(f"lora_loss[{kind}]", lora_loss, m)
            check(f"lora_train[{kind}]", lora_train, m, work)
        first = next(iter(models.values()))
        check(f"qlora[{first.kind}]", qlora, first, work)
        for kind, m in models.items(): check(f"adapter_swap_merge[{kind}]", adapter_swap_merge, m)
        for kind, m in models.items(): check(f"label_scoring[{kind}]", label_scoring, m)
        check(f"accelerate_launch[{first.kind}]", accelerate_launch, first, work)
    finally:
        if not args.keep: shutil.rmtree(work, ignore_errors=True)
    ok, failed = RESULTS.count("ok"), RESULTS.count("FAIL")
    print(f"gpu_check: {ok} ok, {failed} failed, {len(RESULTS) - ok - failed} skipped ({time.perf_counter() - start:.0f} s on {args.device})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
