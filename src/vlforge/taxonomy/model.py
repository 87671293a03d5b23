"""fastText models for the main and the secondary category: training and loading.

Two supervised models, trained on real labelled prompts from licence-allowed sources
(labelled.TRAINING_SOURCES) plus our augmentation (labelled.augmentation: the generated
prompt set and the written prompts of data/augment.yaml):

    main.ftz        8 labels, the main categories
    secondary.ftz   the 19 secondary categories, plus Evaluation and Safety standing for
                    themselves (they have no secondary level)

Both use the softmax loss: the probabilities of a prompt sum to 1, so the best label's
probability is a confidence that the temperature fitted on leave-one-source-out predictions
(evaluate.py) calibrates. The sources are skewed (MATH-V alone gives 3,037 Logical Reasoning
rows), so training keeps at most `group_cap` rows per (source, label), drawn with the seed:
otherwise one large source decides what every long question is.

Training is single-threaded with a fixed seed, and each model is trained and quantised in a
child process: fastText (0.9.x) leaves process-wide state behind after one training that
makes a later training in the same process diverge to NaN, and a child process also keeps
the bytes of the result independent of what the caller did before. Same rows + same
TrainConfig -> byte-identical `.ftz` files.
"""

from __future__ import annotations

import importlib.metadata
import json
import random
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from vlforge.errors import VlforgeError
from vlforge.schemas import file_checksum
from vlforge.taxonomy.labelled import digest
from vlforge.taxonomy.text import tokenize
from vlforge.taxonomy.tree import Taxonomy, load_taxonomy

LABEL_PREFIX = "__label__"
MODEL_FILES = {"main": "main.ftz", "secondary": "secondary.ftz"}
CARD_FILE = "model.json"


@dataclass(frozen=True)
class TrainConfig:
    """fastText hyperparameters (see the fastText docs for each) and the training sample."""

    dim: int = 32
    epoch: int = 25
    lr: float = 0.1  # 0.5 diverges to NaN on the long real prompts
    word_ngrams: int = 2
    # Character n-grams of words: "improvements" shares most of them with "improve", which
    # matters for prompts phrased unlike any seen in training.
    minn: int = 3
    maxn: int = 5
    bucket: int = 20_000  # hashed n-gram rows; kept small so the quantised files stay small
    loss: str = "softmax"
    seed: int = 1
    group_cap: int = 400  # rows per (source, label), see the module notes
    # Quantisation: product quantisation with 2-dim sub-vectors and a quantised norm.
    dsub: int = 2
    qnorm: bool = True


@dataclass(frozen=True)
class Calibration:
    """What turns the main model's probabilities into the tag's confidence (evaluate.py)."""

    temperature: float = 1.0  # confidence = softmax(log p / temperature)
    main_threshold: float = 0.5  # below it the main category is `unassigned`
    secondary_threshold: float = 0.5  # on the secondary's share among the main's children


def calibrate(probabilities: dict[str, float], temperature: float) -> dict[str, float]:
    """softmax(log p / temperature): the probabilities with their ranking kept, sharpened
    (temperature < 1) or flattened (> 1). fastText floors a probability at 1e-5, so no log(0)."""
    powered = {label: max(p, 1e-12) ** (1.0 / temperature) for label, p in probabilities.items()}
    total = sum(powered.values())
    return {label: p / total for label, p in powered.items()}


def label_of(row: dict, level: str) -> str | None:
    """The row's label for a model: the main id; the secondary id, or the main id of a main
    with no secondary level (None where the secondary is unknown)."""
    if level == "main":
        return row["main"]
    if row["secondary"]:
        return row["secondary"]
    return row["main"] if not load_taxonomy().main(row["main"]).secondaries else None


def training_sample(rows: list[dict], level: str, config: TrainConfig) -> list[tuple[str, str]]:
    """(label, token line) pairs: at most group_cap per (source, label), shuffled by the seed."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        label, line = label_of(row, level), tokenize(row["text"])
        if label and line:  # a prompt with no words teaches nothing (and fastText divides by 0)
            groups.setdefault((row["source"], label), []).append(line)
    sample = []
    for (source, label), lines in sorted(groups.items()):
        random.Random(f"{config.seed}:{source}:{label}").shuffle(lines)
        sample += [(label, line) for line in lines[:config.group_cap]]
    random.Random(config.seed).shuffle(sample)
    return sample


def training_lines(rows: list[dict], level: str, config: TrainConfig) -> list[str]:
    return [f"{LABEL_PREFIX}{label} {line}" for label, line in training_sample(rows, level, config)]


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
    """One model (`main` or `secondary`) trained on `rows`, saved to output."""
    lines = training_lines(rows, level, config)
    if not lines:
        raise VlforgeError(f"no labelled rows to train the {level} model on")
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp, f"{level}.txt")
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _train_in_child(str(train_file), str(output), config, quantize)


def train_models(rows: list[dict], output_dir: str | Path, config: TrainConfig | None = None,
                 calibration: Calibration | None = None, quantize: bool = True,
                 provenance: dict | None = None) -> dict:
    """Trains both models on `rows` into output_dir and writes the card; returns the card.

    `provenance` (which sources, how many rows) is written into the card as it is."""
    config, calibration = config or TrainConfig(), calibration or Calibration()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for level, name in MODEL_FILES.items():
        train_level(rows, level, output_dir / name, config, quantize)
    card = {
        "fasttext": fasttext_version(),
        "config": asdict(config),
        "calibration": asdict(calibration),
        "training_rows": {"rows": len(rows), "digest": digest(rows), **(provenance or {})},
        "files": {name: file_checksum(output_dir / name) for name in MODEL_FILES.values()},
    }
    (output_dir / CARD_FILE).write_text(json.dumps(card, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
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
    calibration: Calibration


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
    if "calibration" not in card:
        raise VlforgeError(f"{directory / CARD_FILE} has no calibration: it is a model of an older vlforge; "
                           "rebuild it with `make taxonomy-model` or `vlforge taxonomy train`")
    main = fasttext.load_model(str(paths["main"]))
    secondary = fasttext.load_model(str(paths["secondary"]))
    return LoadedModels(main, secondary, TrainConfig(**card["config"]), Calibration(**card["calibration"]))


def check_labels(models: LoadedModels, taxonomy: Taxonomy | None = None) -> None:
    """Fails when the models were trained on labels the taxonomy does not have."""
    taxonomy = taxonomy or load_taxonomy()
    known = {m.id for m in taxonomy.mains} | {s.id for s in taxonomy.secondaries}
    for model in (models.main, models.secondary):
        unknown = {label[len(LABEL_PREFIX):] for label in model.get_labels()} - known
        if unknown:
            raise VlforgeError(f"the taxonomy model knows labels the taxonomy does not: {sorted(unknown)}; "
                               "retrain it with `vlforge taxonomy train`")
