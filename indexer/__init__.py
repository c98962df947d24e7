"""Chain events -> SQL replica of ledger state, and the regulators' audit views."""
