"""WebDataset shard writing, reading and inspection."""

from vlforge.shards.reader import find_shards, iter_samples
from vlforge.shards.writer import ShardInfo, ShardWriter

__all__ = ["ShardInfo", "ShardWriter", "find_shards", "iter_samples"]
