"""Screens pushed over the play screen: the context inspector and the end-of-encounter summary."""
