"""The DeepSeek-VL SFT use-case taxonomy and the prompt tagger.

    tree           the taxonomy as data (data/taxonomy.json): Table 3, English and Chinese
    text           prompt normalisation and tokenisation, shared by training and tagging
    phrasings      hand-written sentence frames per taxonomy item, English and Chinese
                   (data/phrasings.yaml), with their slot fillers and wrappers
    promptset      the labelled prompt set made from them (recipe in its docstring)
    model          fastText training (main + secondary, quantised .ftz) and loading
    prompt_tagger  prompt text -> {"main", "secondary", scores, "top", "lang", "reason"}
    tag_files      `vlforge taxonomy tag`: SFT record files -> tagged JSONL + rejects
                   (records are read by vlforge.documents.sft, as `vlforge run sft` does)
    sampling       balanced evaluation sets and coverage counts
    report         coverage tables and bar charts
    evaluate       held-out and unseen-phrasing macro-F1, where CharXiv questions land
    cli            `vlforge taxonomy ...` (add_taxonomy_parser)

`vlforge run sft` (vlforge.pipelines.sft) tags records inside an engine job.
"""

from vlforge.taxonomy.tree import UNASSIGNED, Taxonomy, load_taxonomy

__all__ = ["UNASSIGNED", "Taxonomy", "load_taxonomy"]
