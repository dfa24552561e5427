"""Paper scale by simulation: `paper-openai` and `paper-vllm` end to end against a stand-in with the real services' limits.

Each profile runs as `culturellm reproduce` (every stage: augmentation, SFT sets, fine-tuning, every culture's tasks
at full size, CultureLLM-One, the studies, the paper's protocol arm, the paper report) in a scratch project, against
the OpenAI-compatible stand-in (`culturellm.serve`) with its fast deterministic responder (answers, log-probabilities
and embeddings are pure functions of the request; no model) on a simulated clock (`$CULTURELLM_SIM_CLOCK`): batches
take simulated minutes to hours and may expire with part of their answers, fine-tuning jobs queue for a capped
number of slots, direct requests meet requests- and tokens-per-minute limits with 429 and Retry-After.

- `paper-openai`: every role on the OpenAI-like stand-in (`Limits.of("openai")`): the base through the Batch API,
  fine-tuning jobs, embeddings.
- `paper-vllm`: the augmenter and judge on the vLLM-like stand-in (`Limits.of("vllm")`: no Batch API, prompt
  log-probabilities). The base keeps the profile's spec (`serve_adapters: vllm`, `label_scoring: echo`, 32 requests
  in flight), served by the same stand-in in its vLLM mode with runtime LoRA updating and the profile's documented
  server flags (`--enable-lora --max-lora-rank 64`, so vLLM's defaults `--max-loras 1` and `--max-cpu-loras 1`: the
  stand-in swaps adapters in and reads evicted ones again, as vLLM does, and counts both). Evaluation takes the path of
  a user with vLLM: each trained model's adapter folder is registered once through `/v1/load_lora_adapter` and asked
  for by its served name. What is simulated, because this machine has no GPU and the 8B base is not here:
  * the LoRA training: `finetune.trainer` names the simulator's `culturellm.serve.simulated_lora_set`, which spends each
    run's time as a job of the stand-in's fine-tuning queue (standing for the GPUs: 6 runs at once, 10-40 simulated
    minutes each) and then writes what the real trainer leaves: the adapter folder (peft's `adapter_config.json` of
    the recipe `paper-qlora`: r 64, alpha 16, q_proj/v_proj; a small placeholder weights file, no trained weights) and
    `training.json` (values only a real run measures marked `simulated`); `finetune` then writes the same model
    registry entry and ledger line as after a real run;
  * Llama 3.1's tokenizer: the embedded Gemma-3-270M's renders the prompts (the training pairs and the echo rule's),
    role option `tokenizer`;
  * the perplexity study's in-process model (`studies.perplexity_model`, the 8B base on CUDA): the embedded
    Gemma-3-270M on CPU;
  * the model's answers: the stand-in's fast responder, each adapter answering apart by its weights' hash.
  The embedder stays local (MiniLM, on CPU).

Prints per profile: requests answered, for paper-vllm the adapters trained, registered through the load route and
swapped in (and whether the registered ones are exactly the trained ones), Batch jobs, fine-tuning jobs, 429 answers and their Retry-After, fine-tuning queue waits, simulated and real wall time,
each stage's simulated start and end (and the stage whose end sets the simulated wall time), the orchestrator's
peak RSS (the high-water mark of its largest process: the CLI or a stage's notebook kernel; one-off workers such as
the embedded model's conversion are listed apart), planned vs actual cost, and last
`paper_scale ratio: X` = simulated wall time of the old orchestration (one Batch job per 64-row call and one
fine-tuning job at a time, one after another, each at the stand-in's mean duration) / this run's (`paper-openai`).

    .venv/bin/python benchmarks/paper_scale.py [--profiles paper-openai paper-vllm] [--per-task N] [--keep DIR] [--pilot CULTURES PER_TASK]

`--keep DIR` keeps the scratch project: its `batches.json` (every Batch job's stage, model, requests and times) and `jobs.json` (every
fine-tuning job's times: created, ready, started, ended) give the timeline behind the totals.
`--per-task N` evaluates N rows per task instead of every row (a quick look; the goals are for full size).
`--pilot C N` first runs a pilot of `paper-openai` (C cultures, N rows per task, a fifth of the augmented seeds) and
prints the main run's plan calibrated by the pilot's bill (`culturellm plan --pilot`) against its ledger: the plan
alone bounds answer lengths by `max_tokens` and assumes every augmented row is kept; the pilot measures both.
"""
import argparse, collections, copy, json, os, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path
import psutil, yaml
from culturellm.core import data_dir, environment, load_profile
from culturellm.data import ScratchProject
from culturellm.serve import FastResponder, Limits, SimulatedTime, StandInServer, job_schedule

SERVICE = {"paper-openai": "openai", "paper-vllm": "vllm"}
SIMULATED_TRAINER = "culturellm.serve:simulated_lora_set"   # stands for a GPU's LoRA run (paper-vllm)
STAND_IN_TOKENIZER = "gemma-3-270m"                          # embedded: renders prompts where the served base's own tokenizer is not here
GPU_QUEUE = {"fine_tuning": True, "job_minutes": (10, 40), "max_running_jobs": 6}   # the stand-in's job queue standing for the GPUs that train
SERVED_LORA = {"runtime_lora": True, "max_lora_rank": 64}   # paper-vllm's documented server: --enable-lora --max-lora-rank 64, runtime updating on
OLD_CALL_ROWS = 64         # the old orchestration: one Batch job per LLM call of this many rows


def served(cfg: dict, url: str, service: str) -> dict:
    "The profile with every remote role on the stand-in; for vLLM, its base's adapters trained by the simulator and served by the stand-in, what needs the absent GPU or 8B base local and small."
    for spec in cfg["roles"].values():
        if spec["backend"] == "openai": spec["base_url"] = url
    if service == "vllm":
        assert cfg["roles"]["base"].get("serve_adapters") == "vllm", "paper-vllm's base serves its adapters on vLLM: that is the path simulated here"
        cfg["roles"]["base"]["tokenizer"] = STAND_IN_TOKENIZER
        cfg["roles"]["embedder"] = {**cfg["roles"]["embedder"], "device": "cpu"}
        cfg["finetune"] = {**cfg.get("finetune", {}), "trainer": SIMULATED_TRAINER}
        cfg["studies"] = {**cfg.get("studies", {}), "perplexity_model": {"backend": "hf", "model": STAND_IN_TOKENIZER, "dtype": "auto"}}
        cfg["reproduce"] = {"concurrent_stages": 10}                      # stages at once as in paper-openai (their trainings share the simulated GPUs' queue)
    return cfg


def models_of(cfg: dict) -> list:
    return sorted({spec["model"] for spec in cfg["roles"].values() if spec.get("backend") in ("openai", None)} | {cfg["roles"]["base"]["model"]})


def server_model(server, batch) -> str:
    first = server.files[batch["input_file_id"]]["content"].split(b"\n", 1)[0]
    return json.loads(first)["body"]["model"]


def pilot_of(cfg: dict, cultures: int, per_task: int) -> dict:
    "A smaller run of the same profile, whose bill calibrates the plan: its first `cultures` cultures (every culture list of the profile cut to them), `per_task` rows per task, a fifth of the augmented seeds."
    kept = cfg["cultures"][:cultures]
    cut = lambda v: [c for c in v if c in kept] if isinstance(v, list) and v and all(c in cfg["cultures"] for c in v if isinstance(c, str)) and all(isinstance(c, str) for c in v) else v
    pilot = {**copy.deepcopy(cfg), "cultures": kept}
    for section in ("sft", "studies", "alignment"): pilot[section] = {k: cut(v) for k, v in pilot[section].items()}
    pilot["evaluate"]["per_task"], pilot["augment"]["seeds"] = per_task, max(1, cfg["augment"]["seeds"] // 5)
    return pilot


def run(profile: str, per_task: int|None, keep: str|None, expire_rate: float|None=None, pilot: tuple|None=None, pilot_bill=None) -> dict:
    "One run of `profile` against the stand-in (`pilot`: (cultures, rows per task) of a pilot run instead); `pilot_bill` calibrates its plan."
    service = SERVICE[profile]
    cfg = yaml.safe_load((data_dir()/"profiles"/f"{profile}.yaml").read_text())
    if pilot: cfg = pilot_of(cfg, *pilot)
    limits = Limits.of(service, **({**GPU_QUEUE, **SERVED_LORA} if service == "vllm" else {}),
                       **({"expire_rate": expire_rate} if expire_rate is not None else {}))
    server = StandInServer(FastResponder(), limits=limits).start()
    cfg = served(cfg, server.url, service)
    if per_task: cfg["evaluate"]["per_task"] = per_task
    server.models = models_of(cfg)
    name = f"sim-{profile}" + ("-pilot" if pilot else "")
    project = ScratchProject({name: yaml.safe_dump(cfg, sort_keys=False)}, parts=("data/registry", "data/wvs", "data/profiles", "data/templates", "nbs/experiments"),
                             folder=Path(keep)/name if keep else None)
    sim_clock = project.folder/"clock"
    env = {**os.environ, **project.env, "CULTURELLM_SIM_CLOCK": str(sim_clock), "OPENAI_API_KEY": "sk-stand-in", "HF_HUB_OFFLINE": "1"}
    os.environ["CULTURELLM_SIM_CLOCK"] = str(sim_clock)           # the stand-in reads the same clock
    start = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent/"culturellm"), "reproduce", "--profile", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks = watch_peaks(proc)
    stdout, stderr = proc.communicate()
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    real = time.perf_counter() - start
    server.stop()
    if out.returncode != 0: print(f"{profile}: reproduce failed ({out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}", flush=True)
    skipped = SimulatedTime(sim_clock).furthest()                         # the furthest any process of the run got
    (project.folder/"batches.json").write_text(json.dumps([{k: v for k, v in b.items() if k in ("id", "status", "metadata", "request_counts") or k.endswith("_at")} | {"model": server_model(server, b)}
                                                          for b in server.batches.values()], indent=0))
    (project.folder/"jobs.json").write_text(json.dumps([{k: j[k] for k in ("id", "status", "created_at", "finished_at", "_tokens")} | dict(zip(("ready", "start", "end"), times))
                                                       for (jid, times), j in ((kv, server.jobs[kv[0]]) for kv in job_schedule(server.jobs, server.limits).items())], indent=0))
    with environment(project.env):
        from culturellm.pipeline import bill, previous_runs, reports_dir, runs, stage_reads
        table, calibrated = bill(load_profile(name)), (bill(load_profile(name), pilot_bill) if pilot_bill is not None else None)
        times = stage_times(previous_runs(reports_dir(name)), stage_reads(runs(name, cfg["cultures"], cfg["protocol"]["arms"])), sim_clock)
        trained = trained_adapters(name)
    if not keep: shutil.rmtree(project.folder, ignore_errors=True)
    total = table.loc["total"]
    return {"profile": profile, "ok": out.returncode == 0, "requests": sum(server.accepted.values()), "batches": len(server.batches),
            "batch_requests": [b["request_counts"]["total"] for b in server.batches.values()], "jobs": len(server.jobs),
            "job_tokens": [j["_tokens"] for j in server.jobs.values()], "expired": sum(b["status"] == "expired" for b in server.batches.values()), "cancelled": sum(b["status"] == "cancelled" for b in server.batches.values()), "rounds": len({b["created_at"] // 60 for b in server.batches.values()}),
            "per_model_max": max(collections.Counter(server_model(server, b) for b in server.batches.values()).values(), default=0),
            "per_stage_model": collections.Counter(pair(server, b) for b in server.batches.values()),
            "answered_per_pair": answered_per_pair(server),
            "retry_afters": list(server.retry_afters), "job_waits": job_waits(server),
            "simulated_s": real + skipped, "stage_times": times, "real_s": real, "peaks": dict(peaks),
            "planned_usd": float(total["planned_cost_usd"]), "actual_usd": float(total["cost_usd"]),
            "planned_requests": int(total["planned_requests"]), "actual_requests": int(total["requests"]), "bill": table, "limits": limits,
            "calibrated": calibrated, "pilot": pilot, **adapter_serving(server, trained)}


def trained_adapters(profile: str) -> dict:
    "Every model a profile's registry holds as an adapter folder: its served name (`openai_backend.served_name`) -> its registry name (call in the run's environment)."
    from culturellm.core import generated_dir
    from culturellm.finetune import registered_models
    from culturellm.openai_backend import served_name
    models = registered_models(profile)
    return {served_name(generated_dir(profile)/m.adapter): m["name"] for _, m in models[models.adapter.notna()].iterrows()}


def adapter_serving(server: StandInServer, trained: dict) -> dict:
    "What the stand-in saw of the adapters: those registered through the load route (by served name), the route's answers, each adapter's swaps into a slot and reads from its folder; and the adapters trained (`trained_adapters`)."
    loads = collections.Counter(r["status"] for r in server.log if r["path"] == "/v1/load_lora_adapter")
    return {"trained": trained, "registered": dict(server.adapters), "loads": dict(loads), "swaps": dict(server.adapter_swaps), "reads": dict(server.adapter_reads)}


def stage_times(records: dict,  # report name -> run record (`pipeline.previous_runs`)
                reads: dict,    # report name -> the stages it reads (`pipeline.stage_reads`)
                clock_file: Path,
               ) -> dict:
    "Each stage's simulated (start, end) in seconds from the run's start: real time plus how far its clock was ahead, at the start where the stages it reads ended (`reproduce`), at the end where its own clock got (`<clock>.<stage>`)."
    t0, ahead, times = min((r["started"] for r in records.values() if r.get("started")), default=0.0), {}, {}
    for name, r in sorted(records.items(), key=lambda kv: kv[1].get("started") or 0):
        own = clock_file.with_name(f"{clock_file.name}.{name}")
        if not r.get("finished") or not own.exists(): continue
        ahead[name] = float(own.read_text() or 0)
        times[name] = (r["started"] - t0 + max([ahead[d] for d in reads.get(name, []) if d in ahead], default=0.0), r["finished"] - t0 + ahead[name])
    return times


def pair(server: StandInServer, batch: dict) -> tuple:
    "A batch's (stage, model)."
    return (batch["metadata"] or {}).get("culturellm_stage", "?"), server_model(server, batch)


def answered_per_pair(server: StandInServer) -> collections.Counter:
    "Requests the Batch API answered per (stage, model): each once, however often the rest of an expired or cancelled batch was sent again."
    answered = collections.Counter()
    for b in server.batches.values(): answered[pair(server, b)] += b["request_counts"]["completed"]
    return answered


def job_waits(server: StandInServer) -> list:
    "Seconds each fine-tuning job queued for a running slot after it validated."
    return [start - ready for ready, start, _ in job_schedule(server.jobs, server.limits).values()]


def role_of(p: psutil.Process) -> str:
    "What a process of the run is: the CLI, a stage's notebook kernel, or a one-off worker (a model conversion)."
    cmd = p.cmdline()
    if "python" not in p.name() and "culturellm" not in p.name(): return f"other ({p.name()})"
    if "-c" in cmd: return f"one-off worker ({cmd[cmd.index('-c') + 1].split('import ')[-1].split(' as')[0]})"
    stage = p.environ().get("CULTURELLM_STAGE")
    return f"kernel of stage {stage}" if stage else "culturellm reproduce (CLI)"


def watch_peaks(proc: subprocess.Popen, every: float=0.5) -> dict:
    "Peak RSS (the kernel's high-water mark, VmHWM) of the run's every process, by what it is; filled by a thread until `proc` ends."
    peaks = collections.defaultdict(float)
    def watch():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try: family = [root, *root.children(recursive=True)]
            except psutil.Error: family = []
            for p in family:
                try:
                    hwm = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmHWM:")) / 2**20
                    role = role_of(p)
                except (OSError, psutil.Error, StopIteration): continue
                peaks[role] = max(peaks[role], hwm)
            time.sleep(every)
    threading.Thread(target=watch, daemon=True).start()
    return peaks


def mean_batch_s(limits: Limits, requests: int) -> float:
    "A batch's simulated duration at the stand-in's mean draw: validation, run, its requests at the batch rate."
    return limits.validate_s + 60 * sum(limits.batch_minutes) / 2 + requests / limits.batch_rate


def mean_job_s(limits: Limits, tokens: float) -> float:
    "A fine-tuning job's simulated duration at the mean draw."
    return limits.validate_s + 60 * sum(limits.job_minutes) / 2 + tokens / limits.job_tokens_per_s


def old_orchestration_s(r: dict) -> float:
    "The old orchestration's simulated time: one Batch job per 64-row call and one fine-tuning job at a time, one after another."
    limits, batched = r["limits"], sum(r["batch_requests"])
    calls = -(-batched // OLD_CALL_ROWS)
    return calls * mean_batch_s(limits, OLD_CALL_ROWS) + sum(mean_job_s(limits, t) for t in r["job_tokens"])


def report(r: dict) -> None:
    days = lambda s: f"{s / 86400:.2f} days ({s / 3600:.1f} h)"
    print(f"{r['profile']}{' pilot (%d cultures, %d rows per task)' % r['pilot'] if r['pilot'] else ''}: {'completed with no error' if r['ok'] else 'FAILED (see above)'}")
    print(f"  requests answered by the stand-in: {r['requests']}; Batch jobs: {r['batches']} in {r['rounds']} distinct creation minutes (~rounds) "
          f"(largest {max(r['batch_requests'], default=0)} requests; per model at most {r['per_model_max']} jobs); fine-tuning jobs: {r['jobs']}"
          + (" (the simulated LoRA runs' queue)" if r["trained"] else ""))
    (stage, model), most = r["per_stage_model"].most_common(1)[0] if r["per_stage_model"] else (("-", "-"), 0)
    least = {p: max(1, -(-n // r["limits"].batch_max_requests)) for p, n in r["answered_per_pair"].items()}   # the fewest files its requests fit in
    over = {p: (n, least.get(p, 1)) for p, n in r["per_stage_model"].items() if n > least.get(p, 1)}
    print(f"  Batch jobs per (stage, model): at most {most} ({stage}, {model}); {sum(n > 1 for n in r['per_stage_model'].values())} of {len(r['per_stage_model'])} pairs had more than one; "
          f"{len(over)} had more than their requests need at {r['limits'].batch_max_requests} a file" + "".join(f"; {s}, {m}: {n} jobs for {k}" for (s, m), (n, k) in sorted(over.items())))
    print(f"  batches expired (each costs its 24 h window before its rest is sent again): {r['expired']}; "
          f"cancelled after the base's batch_patience_hours (their rest sent again at once): {r['cancelled']}")
    if r["trained"] or r["registered"]:
        asked = sum(1 for name in r["registered"] if r["swaps"].get(name))
        print(f"  adapters: {len(r['trained'])} trained (adapter folders in the model registry); {len(r['registered'])} registered through /v1/load_lora_adapter "
              f"(answers: {', '.join(f'{n} x {s}' for s, n in sorted(r['loads'].items()))}); registered == trained: {set(r['registered']) == set(r['trained'])}; "
              f"{asked} asked for by name; swapped into vLLM's {r['limits'].max_loras} batch slot(s) {sum(r['swaps'].values())} times, "
              f"read from their folders {sum(r['reads'].values())} times (max_cpu_loras {r['limits'].max_cpu_loras or r['limits'].max_loras})")
    waits, queued = r["retry_afters"], sorted(r["job_waits"])
    print(f"  429 answers (rate limits): {len(waits)}, their Retry-After {sum(waits) / 3600:.1f} h in all, longest {max(waits, default=0):.0f} s; "
          f"fine-tuning jobs queued for a slot: median {queued[len(queued) // 2] / 60 if queued else 0:.0f} min, longest {max(queued, default=0) / 3600:.1f} h")
    orchestrators = {role: gb for role, gb in r["peaks"].items() if not role.startswith("one-off")}
    largest = max(orchestrators, key=orchestrators.get, default="-")
    print(f"  simulated wall time: {days(r['simulated_s'])}; real wall time: {r['real_s'] / 60:.1f} min; "
          f"orchestrator peak RSS (its largest process: the CLI or a stage's kernel): {orchestrators.get(largest, 0):.2f} GB ({largest})")
    last = max(r["stage_times"], key=lambda n: r["stage_times"][n][1], default="-")
    print(f"  simulated hours per stage (start-end; the last to end sets the simulated wall time: {last}): "
          + "; ".join(f"{n} {a / 3600:.1f}-{b / 3600:.1f}" for n, (a, b) in r["stage_times"].items()))
    print("  peak RSS by process: " + "; ".join(f"{role} {gb:.2f} GB" for role, gb in sorted(r["peaks"].items(), key=lambda kv: -kv[1])))
    ratio = lambda actual, planned: f"{actual / planned:.3f}" if planned else "n/a: nothing planned to pay"
    print(f"  planned cost ${r['planned_usd']:.2f} vs ledger ${r['actual_usd']:.2f} (ledger / plan {ratio(r['actual_usd'], r['planned_usd'])}); "
          f"requests planned {r['planned_requests']} vs ledger {r['actual_requests']} (ledger / plan {ratio(r['actual_requests'], r['planned_requests'])})")
    print(r["bill"].to_string())
    if r["calibrated"] is not None:
        c = r["calibrated"].loc["total"]
        print(f"  plan calibrated by the pilot's bill (`culturellm plan --pilot`): cost ${c['planned_cost_usd']:.2f} vs ledger ${c['cost_usd']:.2f} "
              f"(ledger / plan {ratio(c['cost_usd'], c['planned_cost_usd'])}); requests {int(c['planned_requests'])} vs {int(c['requests'])} "
              f"(ledger / plan {ratio(c['requests'], c['planned_requests'])}); per stage:")
        print(r["calibrated"][["planned_requests", "requests", "planned_cost_usd", "cost_usd", "cost_usd_ratio"]].to_string())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", nargs="+", default=list(SERVICE))
    ap.add_argument("--per-task", type=int, help="rows per task (default: every row, the paper's size)")
    ap.add_argument("--keep", help="run in this folder and keep it")
    ap.add_argument("--expire-rate", type=float, help="share of batches that expire at 24 h (default: the service's, 0.02 for openai)")
    ap.add_argument("--pilot", nargs=2, type=int, metavar=("CULTURES", "PER_TASK"), help="first run a pilot of paper-openai (its first CULTURES cultures, PER_TASK rows per task, a fifth of the augmented seeds) whose bill calibrates the main run's plan")
    args = ap.parse_args()
    pilot = run("paper-openai", None, args.keep, args.expire_rate, pilot=tuple(args.pilot)) if args.pilot else None
    if pilot: report(pilot)
    results = [run(profile, args.per_task, args.keep, args.expire_rate, pilot_bill=pilot["bill"] if pilot and profile == "paper-openai" else None) for profile in args.profiles]
    for r in results: report(r)
    main_run = next((r for r in results if r["profile"] == "paper-openai"), None)
    if main_run:
        old = old_orchestration_s(main_run)
        print(f"old orchestration (estimated from its job count: {-(-sum(main_run['batch_requests']) // OLD_CALL_ROWS)} Batch jobs and {main_run['jobs']} "
              f"fine-tuning jobs one after another): {old / 86400:.1f} simulated days")
        print(f"paper_scale ratio: {old / main_run['simulated_s']:.2f}")


if __name__ == "__main__":
    main()
