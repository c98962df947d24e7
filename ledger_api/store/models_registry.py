"""Import every models module so ``Base.metadata`` is complete (Alembic env, tests).

Add one import line per models module.
"""

from __future__ import annotations

from indexer import tables as indexer_tables  # noqa: F401
from ledger_api.financing import tables as financing_tables  # noqa: F401
from ledger_api.store import access_log as access_log_models  # noqa: F401
from ledger_api.store import chain_transactions as chain_transaction_models  # noqa: F401
from ledger_api.store import dispute_reasons as dispute_reason_models  # noqa: F401
from ledger_api.store import models as data_plane_models  # noqa: F401
from ledger_api.store import monitoring_tables as monitoring_table_models  # noqa: F401
from ledger_api.store import request_counts as request_count_models  # noqa: F401
from ledger_api.store import subject_tables as subject_table_models  # noqa: F401
from ledger_api.store import supply_chain as supply_chain_models  # noqa: F401
from ledger_api.store.base import Base

metadata = Base.metadata
