"""Phrasings of user prompts for every taxonomy item, English and Chinese (data/phrasings.yaml).

The raw material of the labelled prompt set (`promptset` documents the recipe):

    slots      lang -> slot -> fillers; a frame's `{slot}` is filled with one at random
    wrappers   lang -> (openings, closings) that carry no category signal ("Hi! ", "请问，")
    frames     item path -> lang -> sentence frames, five or more a language

The file is data, not code, so it is edited and reviewed as text; it is loaded once per
process from the installed package.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

PACKAGED = "data/phrasings.yaml"


@dataclass(frozen=True)
class Phrasings:
    slots: dict[str, dict[str, list[str]]]
    wrappers: dict[str, tuple[list[str], list[str]]]
    frames: dict[str, dict[str, list[str]]]


@functools.cache
def load_phrasings() -> Phrasings:
    text = resources.files("vlforge.taxonomy").joinpath(PACKAGED).read_text("utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    wrappers = {lang: (w["openings"], w["closings"]) for lang, w in data["wrappers"].items()}
    return Phrasings(data["slots"], wrappers, data["frames"])
