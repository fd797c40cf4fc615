"""tools/motion."""
