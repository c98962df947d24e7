"""Routers per audience: institution, subject, operator/provider, audit, meta."""
