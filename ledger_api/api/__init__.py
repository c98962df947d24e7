"""The FastAPI service: ``create_app(settings)`` in ``ledger_api.api.app``.

Kept import-light on purpose: ``ledger_api.store.models_registry`` imports ``api.models``.
"""
