"""The three-stage FSDP trainer for the DeepSeek-VL architecture (arrives with the trainer issue)."""
