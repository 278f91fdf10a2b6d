"""Where the work runs: in-process (default) with chunking, threads and checkpoints."""

from samplescope.execution.local import Checkpoint, chunk_ranges, map_chunks

__all__ = ["Checkpoint", "chunk_ranges", "map_chunks"]
