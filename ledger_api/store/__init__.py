"""Persistence: the shared declarative Base, engine/session factory, models, migrations."""
