"""tools/keyframe."""
