"""The operator's checks and helpers behind ``ccl``: set-up (``ccl init``), the running stack's
address, providers, the master key in use, and the commands that go through a running stack."""
