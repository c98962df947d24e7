"""Credit Consent Ledger: consent, access-control and audit for a credit-information platform."""
