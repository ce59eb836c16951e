"""Foundry VTT: pushing granted items and awarded XP to characters' actors.

`base.py` holds the `ItemRelay` Protocol the engine talks to, `foundry.py` the client of the
Foundry REST API relay (VTT_RELAY_URL). Deciding and recording grants is engine logic
(`engine/grants.py`, used at resolution and by `mardonar vtt retry`); this package only carries
them out.
"""
