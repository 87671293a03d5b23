"""The DeepSeek-VL SFT use-case taxonomy and the prompt tagger (arrives with the SFT tagging issue)."""
