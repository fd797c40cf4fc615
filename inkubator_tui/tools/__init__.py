"""Step backends: one self-contained file each, behind pipeline.backend.Backend."""
