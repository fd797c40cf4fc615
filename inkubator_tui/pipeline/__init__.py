"""Steps, approval gates, staleness, cache and the job runner."""
