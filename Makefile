# vlforge: `make demo` and `make test` do all set-up on a fresh machine (Python is all it needs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch goes in first and pinned, so nothing else can pull a CUDA build onto a CPU machine.
# For CUDA: make setup TORCH_SPEC=torch==2.13.0 TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
WORKERS ?= 2
OUT ?= out/demo
IN ?=
PYTEST_ARGS ?=

.PHONY: setup system-deps demo demo-janus test lint bench text notebooks ebooks html arxiv pdf captions train taxonomy-model clean help

help:
	@echo "make setup         .venv with torch ($(TORCH_SPEC)) and vlforge in editable mode"
	@echo "make system-deps   Chromium and CJK fonts (apt-get, as root)"
	@echo "make demo          run the bundled examples, print where the shards went (OUT=$(OUT))"
	@echo "make demo-janus    the demo's Janus part alone (after make demo: captions, VQ ids, tiny-janus I-III, generate)"
	@echo "make test          the test suite"
	@echo "make lint | bench"
	@echo "make text IN='files or dirs' OUT=dir   text corpus job"
	@echo "make notebooks IN='notebooks or dumps' OUT=dir   notebook image+code pairs"
	@echo "make ebooks IN=... OUT=... | make html IN=... OUT=...   page image + page text pairs"
	@echo "make arxiv IN='papers' OUT=dir   LaTeX source + PDF -> page image + page markdown"
	@echo "make pdf IN='PDFs' OUT=dir NOUGAT=checkpoint-dir   PDF pages through the Nougat model"
	@echo "make captions IN='annotations, shards, image folders' OUT=dir [VQ=vq-dir] [CAPTIONS_SET='--set ...']   image+caption pairs"
	@echo "make train STAGE=1|2|3 TRAIN_CONFIG=$(TRAIN_CONFIG) NPROC=$(NPROC)   one trainer stage (torchrun)"
	@echo "make submit-CORPUS IN=... OUT=... ADDRESS=http://HOST:8265   the job on a Ray cluster"

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -e ".[dev,notebooks,ebooks,ray,beam,documents,train,captions]"
	touch $@

# Chromium renders notebook HTML outputs and e-books; CJK fonts make Chinese render as Chinese,
# Noto core (Naskh/Sans Arabic, Serif/Sans Hebrew) Arabic-script and Hebrew books;
# pdflatex (TeX Live) compiles the demo paper and the test papers of the arxiv corpus.
SYSTEM_PACKAGES := chromium fonts-dejavu-core fonts-noto-cjk fonts-noto-core texlive-latex-base texlive-latex-recommended
system-deps:
	@if command -v chromium >/dev/null && command -v pdflatex >/dev/null \
			&& test -f /usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf && fc-list 2>/dev/null | grep -qi "Noto Sans CJK" \
			&& fc-list 2>/dev/null | grep -qi "Noto Naskh Arabic" && fc-list 2>/dev/null | grep -qi "Noto Serif Hebrew"; then \
		echo "system-deps: chromium, pdflatex, CJK, Arabic and Hebrew fonts present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else \
		echo "system-deps: install them, e.g. 'sudo apt-get install $(SYSTEM_PACKAGES)'" >&2; exit 1; \
	fi

demo: setup system-deps
	$(BIN)/vlforge run text examples/text --output $(OUT)/text --workers $(WORKERS)
	@echo; echo "shards: $(OUT)/text/shards   rejects: $(OUT)/text/rejects.parquet   stats: $(OUT)/text/stats.json"
	$(BIN)/vlforge inspect $(OUT)/text
	$(BIN)/vlforge inspect $(OUT)/text --lint
	$(BIN)/vlforge run notebooks examples/notebooks --output $(OUT)/notebooks --workers $(WORKERS)
	@echo; echo "shards: $(OUT)/notebooks/shards   rejects: $(OUT)/notebooks/rejects.parquet"
	$(BIN)/vlforge inspect $(OUT)/notebooks
	$(BIN)/vlforge inspect $(OUT)/notebooks --lint
	$(BIN)/vlforge inspect $(OUT)/notebooks --grid $(OUT)/notebooks/grid.png -n 12
	$(BIN)/vlforge run ebooks examples/ebooks --output $(OUT)/ebooks --workers $(WORKERS)
	@echo; echo "shards: $(OUT)/ebooks/shards   rejects: $(OUT)/ebooks/rejects.parquet"
	$(BIN)/vlforge inspect $(OUT)/ebooks
	$(BIN)/vlforge inspect $(OUT)/ebooks --grid $(OUT)/ebooks/grid.png -n 8
	$(BIN)/vlforge run html examples/html --output $(OUT)/html --workers $(WORKERS)
	$(BIN)/vlforge inspect $(OUT)/html
	$(BIN)/python examples/make_paper.py
	$(BIN)/vlforge run arxiv examples/papers --output $(OUT)/arxiv --workers $(WORKERS)
	@echo; echo "shards: $(OUT)/arxiv/shards   per-paper records: $(OUT)/arxiv/stats.json (summary)"
	$(BIN)/vlforge inspect $(OUT)/arxiv
	$(BIN)/vlforge run sft examples/sft/conversations.jsonl --output $(OUT)/sft --workers $(WORKERS)
	$(BIN)/vlforge inspect $(OUT)/sft
	@echo; echo "--- training: a few steps of each stage, tiny preset, 2 CPU ranks on gloo"
	$(BIN)/python -m vlforge.trainer.evaluation $(OUT)/notebooks/shards $(OUT)/ebooks/shards $(OUT)/html/shards $(OUT)/arxiv/shards --output $(OUT)/mc/mc.jsonl
	rm -rf $(OUT)/train $(OUT)/parts
	@echo "stage 1 starts from separate SigLIP, SAM and LLM checkpoints (tiny, random) written here"
	$(BIN)/python -m vlforge.trainer.parts --preset tiny --output $(OUT)/parts
	$(MAKE) --no-print-directory train STAGE=1 TRAIN_SET="--set root=$(OUT)"
	$(MAKE) --no-print-directory train STAGE=2 TRAIN_SET="--set root=$(OUT)"
	$(MAKE) --no-print-directory train STAGE=3 TRAIN_SET="--set root=$(OUT) --set checkpoint.init_from=train/stage2/export"
	@echo; echo "transformers folder: $(OUT)/train/stage3/export (AutoModelForImageTextToText.from_pretrained)"
	$(MAKE) --no-print-directory demo-janus

# Janus (needs the demo's $(OUT)/text shards for stages II-III): captions in every layout with VQ
# ids from a tiny random VQ saved here, stage I from separate SigLIP/VQ/LLM checkpoints, stages
# I-III of tiny-janus on 2 CPU ranks, then an image drawn with CFG 5 from stage III's export.
JANUS_CONFIG := configs/train-tiny-janus.yaml
JANUS_PROMPT ?= a red circle above a blue square
demo-janus: setup
	@echo; echo "--- Janus data: captions, image+caption pairs in every layout, drawn from their captions; VQ ids from a tiny random VQ"
	rm -rf $(OUT)/captions-inputs $(OUT)/captions $(OUT)/captions-classes $(OUT)/vq
	$(BIN)/python examples/make_captions.py $(OUT)/captions-inputs
	$(BIN)/python -m vlforge.vq tiny $(OUT)/vq
	$(BIN)/vlforge run captions $(OUT)/captions-inputs/folder $(OUT)/captions-inputs/llava/annotations.json $(OUT)/captions-inputs/coco/captions.json $(OUT)/captions-inputs/img2dataset --output $(OUT)/captions --workers $(WORKERS) --set captions.languages=en --set vq.model=$(abspath $(OUT))/vq
	$(BIN)/vlforge inspect $(OUT)/captions
	$(BIN)/vlforge run captions $(OUT)/captions-inputs/classes --output $(OUT)/captions-classes --workers $(WORKERS) --set captions.classes=$(OUT)/captions-inputs/classes/class_index.json --set vq.model=$(abspath $(OUT))/vq
	$(BIN)/vlforge inspect $(OUT)/captions-classes
	@echo; echo "--- Janus training: tiny-janus stages I, II, III, 2 CPU ranks on gloo"
	rm -rf $(OUT)/train-janus $(OUT)/janus-parts
	$(BIN)/python -m vlforge.trainer.janus_parts --preset tiny-janus --vq $(OUT)/vq --output $(OUT)/janus-parts
	$(MAKE) --no-print-directory train STAGE=1 TRAIN_CONFIG=$(JANUS_CONFIG) TRAIN_SET="--set root=$(OUT)"
	$(MAKE) --no-print-directory train STAGE=2 TRAIN_CONFIG=$(JANUS_CONFIG) TRAIN_SET="--set root=$(OUT)"
	$(MAKE) --no-print-directory train STAGE=3 TRAIN_CONFIG=$(JANUS_CONFIG) TRAIN_SET="--set root=$(OUT)"
	$(BIN)/vlforge generate --model $(OUT)/train-janus/stage3/export --prompt "$(JANUS_PROMPT)" --cfg 5 -o $(OUT)/janus-sample.png
	@echo; echo "Janus folder: $(OUT)/train-janus/stage3/export (JanusForConditionalGeneration.from_pretrained); image: $(OUT)/janus-sample.png"

test: setup system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench

# Every bench ends with RESULT lines (bench/common.py): its ratio against a floor measured in
# the same run, and the aim; they are listed again at the end, with the machine's load. About
# 5 minutes on 2 shared cores. Not here: bench/nougat_speed.py (a GPU's pages/s against the
# paper's), bench/ebook_coverage.py (text coverage per book, not speed).
BENCHES := shard_write notebooks ebooks taxonomy_tag rasterise trainer vq_tokenize engines shard_source_startup
BENCH_LOG := out/bench.log
bench: SHELL := /bin/bash
bench: setup system-deps
	@mkdir -p $(dir $(BENCH_LOG)); : > $(BENCH_LOG); set -o pipefail; failed=""; \
	for name in $(BENCHES); do \
		echo "--- bench/$$name.py"; \
		$(BIN)/python bench/$$name.py 2>&1 | tee -a $(BENCH_LOG) || failed="$$failed $$name"; \
	done; \
	echo; echo "--- results ($$(nproc) cores, load average $$(cut -d' ' -f1-3 /proc/loadavg))"; \
	grep '^RESULT' $(BENCH_LOG); \
	if [ -n "$$failed" ]; then echo "bench failed:$$failed" >&2; exit 1; fi

text: setup
	@test -n "$(IN)" || (echo "usage: make text IN='files, dirs or globs' OUT=dir" >&2; exit 2)
	$(BIN)/vlforge run text $(IN) --output $(OUT) --workers $(WORKERS)

ADDRESS ?= http://127.0.0.1:8265
submit-%: setup
	@test -n "$(IN)" || (echo "usage: make submit-$* IN='inputs on shared storage' OUT=dir ADDRESS=http://HOST:8265" >&2; exit 2)
	$(BIN)/vlforge submit $* $(IN) --output $(OUT) --address $(ADDRESS)

notebooks: setup system-deps
	@test -n "$(IN)" || (echo "usage: make notebooks IN='notebooks, dirs, globs or dumps' OUT=dir" >&2; exit 2)
	$(BIN)/vlforge run notebooks $(IN) --output $(OUT) --workers $(WORKERS)

ebooks: setup system-deps
	@test -n "$(IN)" || (echo "usage: make ebooks IN='EPUB files or dirs' OUT=dir" >&2; exit 2)
	$(BIN)/vlforge run ebooks $(IN) --output $(OUT) --workers $(WORKERS)

html: setup system-deps
	@test -n "$(IN)" || (echo "usage: make html IN='HTML/XHTML/.md files or dirs' OUT=dir" >&2; exit 2)
	$(BIN)/vlforge run html $(IN) --output $(OUT) --workers $(WORKERS)

arxiv: setup system-deps
	@test -n "$(IN)" || (echo "usage: make arxiv IN='paper folders, or ID.tar.gz/ID.gz + ID.pdf pairs' OUT=dir" >&2; exit 2)
	$(BIN)/vlforge run arxiv $(IN) --output $(OUT) --workers $(WORKERS)

# The Nougat model path needs a local checkpoint folder: NOUGAT=path/to/nougat-base
pdf: setup
	@test -n "$(IN)" -a -n "$(NOUGAT)" || (echo "usage: make pdf IN='PDFs or dirs' OUT=dir NOUGAT=path/to/nougat-checkpoint" >&2; exit 2)
	$(BIN)/vlforge run pdf $(IN) --output $(OUT) --workers $(WORKERS) --set nougat.model=$(NOUGAT)

# Image+caption pairs; VQ=path/to/janus-vq adds the 576 generation-view VQ ids of each image.
VQ ?=
CAPTIONS_SET ?=
captions: setup
	@test -n "$(IN)" || (echo "usage: make captions IN='annotation files, shards, image folders' OUT=dir [VQ=vq-dir] [CAPTIONS_SET='--set captions.image_root=DIR']" >&2; exit 2)
	$(BIN)/vlforge run captions $(IN) --output $(OUT) --workers $(WORKERS) $(if $(VQ),--set vq.model=$(abspath $(VQ))) $(CAPTIONS_SET)

# One training stage: make train STAGE=2 [TRAIN_CONFIG=file.yaml] [NPROC=2] [TRAIN_SET="--set steps=100"]
STAGE ?= 1
TRAIN_CONFIG ?= configs/train-tiny.yaml
NPROC ?= 2
TRAIN_SET ?=
train: setup
	$(BIN)/vlforge train --stage $(STAGE) --config $(TRAIN_CONFIG) --nproc $(NPROC) $(TRAIN_SET)

# Rebuilds the shipped prompt set and fastText models from the data (same data + seed -> same
# bytes): leave-one-source-out calibration on the real labelled prompts, then the models.
TAXONOMY_CORPORA ?= ../shared/corpora
TAXONOMY_SEED ?= 1
taxonomy-model: setup
	$(BIN)/python -m vlforge.taxonomy.cli prompts --output src/vlforge/taxonomy/data/prompts.jsonl
	$(BIN)/python -m vlforge.taxonomy.cli train --labelled $(TAXONOMY_CORPORA)/prompts_labelled --seed $(TAXONOMY_SEED) \
		--prompts src/vlforge/taxonomy/data/prompts.jsonl --output-dir src/vlforge/taxonomy/data \
		--charxiv $(TAXONOMY_CORPORA)/prompts/princeton-nlp__CharXiv
	$(BIN)/python -m vlforge.taxonomy.cli evaluate --charxiv $(TAXONOMY_CORPORA)/prompts/princeton-nlp__CharXiv

clean:
	rm -rf out .pytest_cache
