"""Synthetic training sets: randomised scene families (configs/dataset), the sharded
writer with its manifest, readers for PyTorch, inspection and export."""

from worldgen.dataset.reader import MODALITIES, DatasetFormatError, EpisodeDataset, ShardStream, read_manifest

__all__ = ["MODALITIES", "DatasetFormatError", "EpisodeDataset", "ShardStream", "read_manifest"]
