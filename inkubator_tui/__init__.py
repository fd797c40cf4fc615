"""inkubator: offline shot production in the terminal, with a person approving every step."""

__version__ = "0.1.0"
