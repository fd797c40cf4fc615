"""The director agent and its language-model backends."""
