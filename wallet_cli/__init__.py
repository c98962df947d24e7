"""``ccl-wallet``: the enterprise wallet CLI (keystores, signing, domain verbs)."""
