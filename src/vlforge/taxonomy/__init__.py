"""The DeepSeek-VL SFT use-case taxonomy and the prompt tagger.

    tree           the taxonomy as data (data/taxonomy.json): Table 3, English and Chinese
    text           prompt normalisation and tokenisation, shared by training and tagging
    phrasings      hand-written sentence frames per taxonomy item, English and Chinese
                   (data/phrasings.yaml), with their slot fillers and wrappers
    promptset      the labelled prompt set made from them (recipe in its docstring)
    labelled       the real labelled prompts (shared/corpora/prompts_labelled) and which
                   sources' licences allow training the shipped model
    model          fastText training (main + secondary, quantised .ftz) and loading
    evaluate       leave-one-source-out predictions, calibration, the accuracy report,
                   where CharXiv questions land
    build          `make taxonomy-model`: LOSO -> calibration -> shipped models + report
    prompt_tagger  prompt text -> {"main", "main_score", "best", "secondary", ..., "reason"}
    prompt_files   prompt files (JSONL, JSON lists or keyed objects, CSV, parquet) -> prompts
    tag_files      `vlforge taxonomy tag`: prompt files -> tagged JSONL + reject rows
    sampling       balanced evaluation sets and coverage counts
    report         coverage tables and bar charts
    cli            `vlforge taxonomy ...` (add_taxonomy_parser)

`vlforge run sft` (vlforge.pipelines.sft) tags records inside an engine job.
"""

from vlforge.taxonomy.tree import UNASSIGNED, Taxonomy, load_taxonomy

__all__ = ["UNASSIGNED", "Taxonomy", "load_taxonomy"]
