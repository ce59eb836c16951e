"""`mardonar lint`: every mistake in specs, persona, party, lore and test plans."""
