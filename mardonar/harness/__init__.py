"""Headless harnesses: sessions played with no one at the table.

Strict and live replay (`replay/`), `mardonar explore` (`explore.py`), the authors' test
plans (`testplans.py`) and the golden-transcript recorder (`recording.py`) all play
throwaway sessions on a real engine, opened the one way `headless.py` does it. This layer
sits beside channels/ and cli/: it imports the engine and what is below it, and only cli/
imports it.
"""
