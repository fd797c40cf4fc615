"""tools/voice."""
