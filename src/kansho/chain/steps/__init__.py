"""One module per step of the chain: its function, its block tasks and its typed result."""
