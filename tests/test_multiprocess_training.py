"""Training in several processes, as on several GPUs: the README's command (`accelerate launch --config_file
data/accelerate/multi_gpu.yaml … culturellm finetune`) with two CPU processes (DDP over gloo) on the embedded
Gemma-3-270M, killed after its first checkpoint and launched again. It must write one adapter, one registry line and
one ledger line, checkpoint at the steps planned for two processes, resume, and reach the losses of one process
trained on the same global batch.

`accelerate launch --cpu --num_processes 2` is not used: accelerate's `--cpu` takes its simple launcher, which starts
a single process. On a machine without GPUs the multi-GPU config starts its processes through torchrun, and a base
on `device: cpu` makes them train on CPU with gloo."""
import json, os, socket, subprocess, sys, time
from pathlib import Path
import psutil
from culturellm.core import read_jsonl
from culturellm.finetune import checkpoint_steps, training_steps
from conftest import CLI, ROOT, run_cli

ACCELERATE = Path(sys.executable).parent/"accelerate"
ROWS, PER_DEVICE, PROCESSES, EPOCHS = 8, 2, 2, 2   # 4 optimiser steps: a checkpoint at each, so a kill, a resume and a comparison at every step
LOSS_TOLERANCE = 0.05   # |loss of 2 processes - loss of 1| at every step, answer-token cross-entropy (2.3 at the start, ~0.2-0.6 at the end)


def profile(home: Path, name: str, batch: int) -> None:
    "A one-culture profile on the embedded base. No LoRA dropout: two processes draw other masks than one, which is noise, not a difference."
    (home/f"data/profiles/{name}.yaml").write_text(
        "cultures: [bengali]\nwvs: {label_rule: valid_mean}\nroles:\n  base: {backend: hf, model: gemma-3-270m}\n"
        "sft: {mode: corrected, sizes: [0]}\n"
        f"finetune: {{recipe: laptop-lora, lora: {{dropout: 0.0}}, train: {{epochs: {EPOCHS}, batch_size: {batch}, gradient_checkpointing: true}}}}\n")


def training_set(home: Path, name: str) -> None:
    "The Bengali seed set, cut to its first ROWS prompt/answer pairs (chat file and pairs file alike)."
    assert run_cli("sft", "build", "--profile", name, "--culture", "bengali").returncode == 0
    for f in (home/f"data/generated/{name}/sft/bengali").glob("*.jsonl"):
        f.write_text("".join(f.read_text().splitlines(keepends=True)[:ROWS]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(name: str, log: Path) -> subprocess.Popen:
    "`culturellm finetune` of profile `name` in PROCESSES processes, as the README launches it on GPUs."
    command = [str(ACCELERATE), "launch", "--config_file", str(ROOT/"data/accelerate/multi_gpu.yaml"), "--num_processes", str(PROCESSES),
               "--main_process_port", str(free_port()), str(CLI), "finetune", "--profile", name, "--culture", "bengali"]
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=os.environ.copy())


def first_checkpoint(folder: Path) -> int|None:
    "The step of the first complete checkpoint in `folder` (the Trainer writes trainer_state.json last), if any."
    done = [int(p.parent.name.rsplit("-", 1)[1]) for p in folder.glob("checkpoint-*/trainer_state.json")]
    return min(done, default=None)


def kill_at_first_checkpoint(proc: subprocess.Popen, folder: Path, timeout: float=600) -> int:
    "SIGKILL the launcher and every process it started as soon as a checkpoint is complete; the checkpoint's step."
    deadline = time.time() + timeout
    while (step := first_checkpoint(folder)) is None:
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.02)
    for p in [*psutil.Process(proc.pid).children(recursive=True), proc]:
        try: p.kill()
        except psutil.NoSuchProcess: pass
    proc.wait()
    return step


def training_record(home: Path, name: str) -> dict:
    return json.loads((home/f"data/generated/{name}/models/culturellm-bengali/training.json").read_text())


def test_two_processes_train_once_checkpoint_as_planned_resume_and_match_one_process(home, tmp_path):
    planned_steps = training_steps({"batch_size": PER_DEVICE, "epochs": EPOCHS}, ROWS, world=PROCESSES)
    planned = checkpoint_steps(planned_steps)
    assert (planned_steps, planned) == (4, [1, 2, 3, 4])     # 8 rows / (2 a device x 2 processes) = 2 steps an epoch, 2 epochs; a checkpoint every 4 // 4
    profile(home, "duo", PER_DEVICE)
    training_set(home, "duo")
    generated = home/"data/generated/duo"
    model = generated/"models/culturellm-bengali"

    killed = launch("duo", tmp_path/"killed.log")
    assert kill_at_first_checkpoint(killed, model/"checkpoints") == planned[0]
    assert not (model/"adapter").exists() and not (generated/"models/registry.jsonl").exists()

    again = launch("duo", tmp_path/"resumed.log")
    assert again.wait(timeout=600) == 0, (tmp_path/"resumed.log").read_text()[-3000:]
    duo = training_record(home, "duo")
    assert (duo["world_size"], duo["global_batch"], duo["steps"]) == (PROCESSES, PER_DEVICE * PROCESSES, planned_steps)
    assert duo["resumed"] is True and duo["checkpoints"] == planned     # resumed from the first, then the rest, at the planned steps
    assert sorted(p.name for p in model.iterdir()) == ["adapter", "training.json"]                       # one adapter, no .tmp, checkpoints removed
    assert (model/"adapter/adapter_model.safetensors").exists()
    assert [r["name"] for r in read_jsonl(generated/"models/registry.jsonl")] == ["culturellm-bengali"]  # registered once
    assert [(r["role"], r["stage"]) for r in read_jsonl(generated/"usage.jsonl")] == [("culturellm-bengali", "finetune")]   # billed once
    assert (tmp_path/"resumed.log").read_text().count(f"culturellm-bengali: {ROWS} rows") == 1               # one process reports

    profile(home, "solo", PER_DEVICE * PROCESSES)             # one process, the same global batch: the same rows at every step
    (home/"data/generated/solo").mkdir(parents=True)
    os.symlink(generated/"sft", home/"data/generated/solo/sft")
    out = run_cli("finetune", "--profile", "solo", "--culture", "bengali")
    assert out.returncode == 0, out.stderr[-3000:]
    solo = training_record(home, "solo")
    assert (solo["world_size"], solo["global_batch"], solo["checkpoints"], solo["resumed"]) == (1, PER_DEVICE * PROCESSES, planned, False)
    steps = lambda record: {l["step"]: l["loss"] for l in record["losses"]}
    assert steps(duo).keys() == steps(solo).keys() == set(range(1, planned_steps + 1))
    gaps = {step: abs(steps(duo)[step] - steps(solo)[step]) for step in steps(solo)}
    print(f"final loss: 2 processes {duo['losses'][-1]['loss']}, 1 process {solo['losses'][-1]['loss']}; largest gap {max(gaps.values()):.4f} (tolerance {LOSS_TOLERANCE})")
    assert max(gaps.values()) <= LOSS_TOLERANCE, gaps
