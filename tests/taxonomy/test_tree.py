"""The taxonomy data file: the whole of Table 3, with Chinese names and the evaluation set."""

import json
from pathlib import Path

from vlforge.taxonomy.tree import load_taxonomy

SPEC = Path(__file__).resolve().parents[3] / "shared/spec/taxonomy-table3.json"


def test_tree_has_the_papers_shape():
    taxonomy = load_taxonomy()
    assert (len(taxonomy.mains), len(taxonomy.secondaries), len(taxonomy.items)) == (8, 19, 88)
    assert [m.name_zh for m in taxonomy.mains] == ["识别", "转换", "分析", "常识推理", "逻辑推理", "评估",
                                                  "多图分析", "安全性"]
    assert [m.name for m in taxonomy.human_eval_mains()] == [
        "Recognition", "Conversion", "Analysis", "Commonsense Reasoning", "Logical Reasoning",
        "Evaluation", "Multi-graph"]
    assert not taxonomy.main("evaluation").secondaries and len(taxonomy.main("Safety").items) == 3
    assert taxonomy.secondary("Humor Reasoning").items == ()
    nodes = [*taxonomy.mains, *taxonomy.secondaries]
    assert all(n.description and n.description_zh and n.name_zh for n in nodes)
    assert all(i.name_zh for i in taxonomy.items)


def test_tree_matches_the_spec_file_name_for_name():
    spec = json.loads(SPEC.read_text())
    taxonomy = load_taxonomy()
    ours = {}
    for main in taxonomy.mains:
        if main.secondaries:
            ours[main.name] = {s.name: [i.name for i in s.items] for s in main.secondaries}
        else:
            ours[main.name] = {"-": [i.name for i in main.items]}
    assert ours == spec
