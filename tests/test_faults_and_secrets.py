"""Fault injection and the secrets canary, over real HTTP: the augmenter served by the OpenAI-compatible stand-in
(answering with the embedded SmolLM2), once without faults and once with 20% injected faults and a canary key."""
import json, secrets, os, subprocess
from pathlib import Path
import pytest
from culturellm.augment import content_words, shared_words, word_kind
from culturellm.wvs import load_questions
from culturellm.core import stable_hash
from culturellm.data import ScratchProject
from culturellm.hf import HFBackend
from culturellm.serve import Faults, StandInServer
from conftest import CLI

CANARY = "sk-canary-" + secrets.token_hex(16)   # a fresh fake key each run
SEEDS = 5
WORDS = 9                                       # synonym words per seed: enough requests for the faults to hit several
PROFILE = """cultures: [bengali]
roles:
  augmenter: {{backend: openai, model: smollm2, base_url: "{url}", max_retries: 12, timeout: {timeout}, concurrency: 1}}
  embedder: {{backend: minilm, model: all-minilm-l6-v2}}
augment: {{modes: [improved], seeds: {seeds}, n: 2, m: 4, max_calls: 2, max_tokens: 48, synonym_tokens: 16, synonym_words: {words}, rounds: 4, chunk: {seeds}}}
"""


def run_augmentation(home: Path, url: str, env: dict, timeout: float=60):   # the faulty run: 8 s, below the 10 s hangs
    ScratchProject({"api": PROFILE.format(url=url, seeds=SEEDS, words=WORDS, timeout=timeout)}, parts=("data/registry", "data/wvs"), folder=home)
    out = subprocess.run([str(CLI), "augment", "--profile", "api"], capture_output=True, text=True, env={**os.environ, **env, "CULTURELLM_HOME": str(home)})
    assert out.returncode == 0, out.stderr
    folder = home/"data/generated/api/augment/improved"
    return [json.loads(l) for l in (folder/"samples.jsonl").read_text().splitlines()], json.loads((folder/"manifest.json").read_text()), out


class Remembered:
    "A responder answering each distinct request once: the faulty run gets what the clean run computed, so only the injected faults, not a slow or busy CPU, make its requests time out."
    def __init__(self, backend):
        self.backend, self.model_id, self.answers = backend, backend.model_id, {}

    def chat(self, conversations, max_tokens, temperature, seeds):
        key = stable_hash([conversations, max_tokens, temperature, seeds])
        if key not in self.answers: self.answers[key] = self.backend.chat(conversations, max_tokens, temperature, seeds)
        return self.answers[key]

    def top_logprobs(self, messages, k): return self.backend.top_logprobs(messages, k)


@pytest.fixture(scope="module")
def smol():
    backend = HFBackend("smollm2-135m-instruct", dtype="float32")   # the stand-in server answers concurrent requests: fp32 keeps them reproducible
    backend.weights                                                 # loaded now, not inside the first request
    return Remembered(backend)


def test_twenty_percent_faults_give_identical_results_and_the_key_leaks_nowhere(smol, tmp_path):
    with StandInServer(smol, models=["smollm2"]) as clean:
        expected, _, _ = run_augmentation(tmp_path/"clean", clean.url, {})
    faults = Faults(rate=0.2, retry_after=0.05, hang_seconds=10, seed=7)
    with StandInServer(smol, faults, api_key=CANARY, models=["smollm2"]) as faulty:
        got, manifest, out = run_augmentation(tmp_path/"faulty", faulty.url, {"OPENAI_API_KEY": CANARY}, timeout=8)
        injected = [r["fault"] for r in faulty.log if r["fault"]]
    assert len(injected) >= 3 and len(set(injected)) >= 2                 # faults of several kinds really happened
    strip = lambda rows: [{k: v for k, v in r.items() if k != "llm_keys"} for r in rows]
    assert strip(got) == strip(expected)                                   # identical samples despite the faults
    assert manifest["kept"] == len(expected)
    leaked = [str(p) for p in (tmp_path/"faulty").rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaked == [] and CANARY not in out.stdout + out.stderr and CANARY not in json.dumps(faulty.log)


def test_refusals_are_counted_not_retried(smol, tmp_path):
    with StandInServer(smol, Faults(refuse_rate=1.0), models=["smollm2"]) as server:
        kept, manifest, _ = run_augmentation(tmp_path/"refused", server.url, {})
        posts = sum(1 for r in server.log if r["method"] == "POST")
    assert kept == [] and manifest["rejected"].get("refused", 0) == posts  # every refusal reported ...
    seeds = load_questions().head(SEEDS).text       # with no paraphrase, each seed stands in for itself in step 2
    chosen = [shared_words([content_words(seed, unique=True)], {"synonym_words": WORDS})[0] for seed in seeds]
    words = {word_kind(w, t) for ws in chosen for w, t in ws}
    assert posts == SEEDS * 2 + len(words)      # ... and none retried: 2 paraphrase rounds per seed, one synonym request per distinct chosen word
