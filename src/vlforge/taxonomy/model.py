"""fastText models for the main and the secondary category: training and the Tagger.

Two supervised models, trained on the `train` split of the labelled prompt set:

    main.ftz        8 labels, the main categories
    secondary.ftz   the 19 secondary categories, plus Evaluation and Safety standing for
                    themselves (they have no secondary level)

Both use the one-vs-all loss: each label gets its own sigmoid probability, so a prompt that
asks two things can score high on two labels (multi-label), and a prompt that resembles
nothing scores low everywhere, which is what the `unassigned` threshold needs. Training is
single-threaded with a fixed seed, and each model is trained and quantised in a child
process: fastText (0.9.x) leaves process-wide state behind after `quantize` that makes the
next training in the same process diverge to NaN, and a child process also keeps the bytes
of the result independent of what the caller did before. Same prompt set + same
TrainConfig -> byte-identical `.ftz` files.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.schemas import checksum, file_checksum
from vlforge.taxonomy.text import tokenize
from vlforge.taxonomy.tree import Taxonomy, load_taxonomy

LABEL_PREFIX = "__label__"
MODEL_FILES = {"main": "main.ftz", "secondary": "secondary.ftz"}
CARD_FILE = "model.json"


@dataclass(frozen=True)
class TrainConfig:
    """fastText hyperparameters (see the fastText docs for each)."""

    dim: int = 32
    epoch: int = 40
    lr: float = 0.5
    word_ngrams: int = 2
    # Character n-grams of words: "improvements" shares most of them with "improve", which
    # matters with a training set of a few thousand prompts.
    minn: int = 3
    maxn: int = 5
    bucket: int = 20_000  # hashed n-gram rows; kept small so the quantised files stay small
    loss: str = "ova"
    seed: int = 1
    # Quantisation: product quantisation with 2-dim sub-vectors and a quantised norm.
    dsub: int = 2
    qnorm: bool = True
    # Thresholds the Tagger applies; stored in model.json with the models they belong to.
    main_threshold: float = 0.5
    secondary_threshold: float = 0.5  # on the secondary's share among the main's children


def secondary_label(row: dict) -> str:
    """The secondary model's label: the secondary id, or the main id where there is none."""
    return row["secondary"] or row["main"]


def training_lines(rows: list[dict], level: str) -> list[str]:
    label_of = (lambda r: r["main"]) if level == "main" else secondary_label
    return [f"{LABEL_PREFIX}{label_of(r)} {tokenize(r['text'])}" for r in rows]


def _train_one(train_file: str, output: str, config: dict, quantize: bool = True) -> None:
    """Runs in a child process: train, quantise, save (see the module notes for why)."""
    import fasttext

    model = fasttext.train_supervised(
        input=train_file, dim=config["dim"], epoch=config["epoch"], lr=config["lr"],
        wordNgrams=config["word_ngrams"], minn=config["minn"], maxn=config["maxn"],
        bucket=config["bucket"], loss=config["loss"], seed=config["seed"], thread=1, minCount=1, verbose=0)
    if quantize:
        model.quantize(input=train_file, qnorm=config["qnorm"], dsub=config["dsub"], retrain=False,
                       cutoff=0, thread=1, verbose=0)
    model.save_model(output)


def _train_in_child(train_file: str, output: str, config: TrainConfig, quantize: bool = True) -> None:
    # A fresh interpreter rather than multiprocessing: spawn would re-import the caller's
    # __main__ (a script, a notebook), fork would inherit the very state we avoid.
    code = ("import json, sys; from vlforge.taxonomy.model import _train_one; "
            "_train_one(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == '1')")
    args = [train_file, output, json.dumps(asdict(config)), "1" if quantize else "0"]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if result.returncode != 0 or not Path(output).exists():
        tail = result.stderr.strip().splitlines()[-1:] or ["no error output"]
        raise VlforgeError(f"fastText training of {Path(output).name} failed: {tail[0]}")


def train_level(rows: list[dict], level: str, output: str | Path, config: TrainConfig,
                quantize: bool = True) -> None:
    """One model (`main` or `secondary`) trained on all of `rows`, saved to output."""
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp, f"{level}.txt")
        train_file.write_text("\n".join(training_lines(rows, level)) + "\n", encoding="utf-8")
        _train_in_child(str(train_file), str(output), config, quantize)


def _digest(rows: list[dict]) -> str:
    payload = "\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    return checksum(payload.encode())


def train_models(rows: list[dict], output_dir: str | Path, config: TrainConfig | None = None) -> dict:
    """Trains both models on the train split of `rows` into output_dir; returns the card."""
    config = config or TrainConfig()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    train_rows = [r for r in rows if r["split"] == "train"]
    if not train_rows:
        raise VlforgeError("the prompt set has no rows with split=train")
    for level, name in MODEL_FILES.items():
        train_level(train_rows, level, output_dir / name, config)
    card = {
        "fasttext": fasttext_version(),
        "config": asdict(config),
        "prompt_set": {"rows": len(rows), "train_rows": len(train_rows), "digest": _digest(rows)},
        "files": {name: file_checksum(output_dir / name) for name in MODEL_FILES.values()},
    }
    (output_dir / CARD_FILE).write_text(json.dumps(card, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return card


def fasttext_version() -> str:
    for distribution in ("fasttext-numpy2", "fasttext", "fasttext-wheel"):
        try:
            return f"{distribution} {importlib.metadata.version(distribution)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def packaged_model_dir() -> Path:
    return Path(str(resources.files("vlforge.taxonomy").joinpath("data")))


@dataclass(frozen=True)
class LoadedModels:
    main: object  # fasttext.FastText._FastText
    secondary: object
    config: TrainConfig
    vocabulary: frozenset[str]  # words of the main model: what the tagger has seen


def load_models(model_dir: str | Path | None = None) -> LoadedModels:
    """The two models and their card from model_dir (the packaged models by default)."""
    import fasttext

    directory = Path(model_dir) if model_dir else packaged_model_dir()
    paths = {level: directory / name for level, name in MODEL_FILES.items()}
    missing = [str(p) for p in (*paths.values(), directory / CARD_FILE) if not p.exists()]
    if missing:
        raise VlforgeError(f"taxonomy model files missing: {', '.join(missing)}; "
                           "build them with `make taxonomy-model` or `vlforge taxonomy train`")
    card = json.loads((directory / CARD_FILE).read_text("utf-8"))
    main = fasttext.load_model(str(paths["main"]))
    secondary = fasttext.load_model(str(paths["secondary"]))
    return LoadedModels(main, secondary, TrainConfig(**card["config"]), frozenset(main.get_words()))


def check_labels(models: LoadedModels, taxonomy: Taxonomy | None = None) -> None:
    """Fails when the models were trained on labels the taxonomy does not have."""
    taxonomy = taxonomy or load_taxonomy()
    known = {m.id for m in taxonomy.mains} | {s.id for s in taxonomy.secondaries}
    for model in (models.main, models.secondary):
        unknown = {label[len(LABEL_PREFIX):] for label in model.get_labels()} - known
        if unknown:
            raise VlforgeError(f"the taxonomy model knows labels the taxonomy does not: {sorted(unknown)}; "
                               "retrain it with `vlforge taxonomy train`")
