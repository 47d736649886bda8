"""The HTTP layer: parse, authorise, call the engine, serialise. Nothing else."""
