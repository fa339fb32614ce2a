"""Domain-agnostic toolbox. Nothing in here imports from a shopdb domain package."""
