"""Mardonar: an encounter engine for tabletop RPGs run by an LLM game master."""

__version__ = "0.1.0"
