"""Runtime configuration, read from ``CCL_*`` environment variables (pydantic-settings).

Embedded mode (the default) runs everything in one process on a persistent in-process chain
and SQLite, with development secrets derived deterministically so that the demo needs no
setup. Any other mode refuses to start while a secret still has its development value.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger_api.errors import InputError

# Development-only secrets: public on purpose, refused outside embedded mode.
_DEV_MASTER_KEY = hashlib.sha256(b"ccl-dev-master-key").hexdigest()
_DEV_PSEUDONYM_KEY = hashlib.sha256(b"ccl-dev-pseudonym-key").hexdigest()
# eth-tester's first funded account: the embedded chain's operator.
_DEV_OPERATOR_KEY = "0x" + "0" * 63 + "1"
# eth-tester's tenth funded account: the embedded chain's governance key (role administration).
_DEV_GOVERNANCE_KEY = "0x" + "0" * 62 + "0a"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCL_", env_file=None, extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under data_dir
    chain_url: str = ""  # empty: the embedded chain persisted under data_dir
    deployment_file: Path | None = None  # default: data_dir / "deployment.json"
    # npm packages the /docs and /redoc pages load (ledger_api.api.docs_pages); default: the
    # source checkout's node_modules.
    web_assets_dir: Path | None = None

    master_key: SecretStr = SecretStr(_DEV_MASTER_KEY)  # 32 bytes, hex
    master_key_id: str = "dev-1"
    pseudonym_key: SecretStr = SecretStr(_DEV_PSEUDONYM_KEY)
    operator_key: SecretStr = SecretStr(_DEV_OPERATOR_KEY)  # the platform's relayer key
    # The governance key administers roles on chain (DEFAULT_ADMIN_ROLE). Only the embedded
    # mode's first start uses it, to name it in a new deployment; a real platform deploys with
    # a governance key held apart from the operator's, never in this process's settings.
    governance_key: SecretStr = SecretStr(_DEV_GOVERNANCE_KEY)

    max_replica_lag_blocks: int = 2
    strict_gate: bool = False  # check the chain directly on every gated request
    indexer_poll_interval_s: float = 0.5
    confirmation_depth: int = 0  # 0 is right for QBFT's immediate finality
    reorg_window_blocks: int = 64
    clock_skew_s: int = 60
    access_log_anchor_every_s: float = 30.0
    access_log_anchor_every_entries: int = 500
    max_body_bytes: int = 16 * 1024 * 1024
    max_page_size: int = 500
    # A bank answers a loan application (and a white-list push) within this many days;
    # later ones are flagged to the regulator (docs/financing.md).
    financing_decision_days: int = Field(default=30, ge=1, le=365)
    rate_limit_per_minute: int = 6000
    rate_limit_burst: int = 200  # token-bucket capacity per actor
    state_cache_ttl_s: float = 0.25  # how long the chain head / state lookups are reused
    # Gate rows each API process holds (indexer.gate_mirror), synced every state_cache_ttl_s;
    # 0 (or a TTL of 0) reads the database for every decision.
    gate_mirror_entries: int = Field(default=20_000, ge=0)  # about 1 KB each
    keyring_cache_ttl_s: float = 5.0  # unwrapped data keys are re-read this often (shredding)
    nonce_retention_s: int = 600  # seen request nonces older than this are pruned
    access_log_batch_max: int = 256  # entries per group commit of the access-log writer
    # Under load the writer may wait up to this long for more entries before committing:
    # fewer, larger commits. Off by default: requests reach the writer in bursts (everything
    # the event loop ran in one pass), so waiting for more mostly left the loop idle; measured
    # in the reads benchmark, 0 s kept the loop busier (83% against 79%) and raised the ratio.
    access_log_linger_s: float = 0.0
    # Monitoring and push: the fan-out + webhook delivery loop in the API process, and how
    # long it sleeps when a pass found nothing to do.
    monitoring_enabled: bool = True
    monitoring_poll_s: float = 0.5
    # GET /metrics (Prometheus) answers loopback clients only unless this is set.
    metrics_remote: bool = False
    # glibc's allocator in the API process (ledger_api.memory, docs/operators.md "Memory"):
    # at most this many malloc arenas, and freed memory handed back this often; 0 turns off.
    malloc_arenas: int = 2
    malloc_trim_every_s: float = 30.0
    # Threads serving synchronous routes and dependencies (anyio's default limiter, 40 if left
    # alone): each thread that ever ran keeps its stack, SQLite and allocator state for good.
    # The database pool holds this many connections plus the background threads' (see
    # ``ledger_api.store.db.serving_pool``), so no serving thread waits for or churns one.
    thread_pool_size: int = Field(default=8, ge=1, le=128)
    # SQLite's memory in the process (PRAGMA soft_heap_limit, all connections together): past
    # it the connections' page caches reuse their pages instead of growing as the database
    # does. 0: no limit (each serving connection's cache grows to SERVING_CACHE_MIB).
    sqlite_heap_limit_mib: int = Field(default=8, ge=0, le=4096)

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_embedded(self) -> Settings:
        if self.mode != "embedded":
            dev = {
                "CCL_MASTER_KEY": (self.master_key, _DEV_MASTER_KEY),
                "CCL_PSEUDONYM_KEY": (self.pseudonym_key, _DEV_PSEUDONYM_KEY),
                "CCL_OPERATOR_KEY": (self.operator_key, _DEV_OPERATOR_KEY),
            }
            still_default = [n for n, (v, d) in dev.items() if v.get_secret_value() == d]
            if still_default:
                raise InputError(
                    f"refusing to start in {self.mode} mode with development secrets: "
                    + ", ".join(still_default)
                )
            if not self.chain_url or not self.database_url:
                raise InputError(f"{self.mode} mode needs CCL_CHAIN_URL and CCL_DATABASE_URL")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.sqlite'}"

    @cached_property
    def resolved_deployment_file(self) -> Path:
        return self.deployment_file or self.data_dir / "deployment.json"

    @cached_property
    def master_key_bytes(self) -> bytes:
        return _hex32(self.master_key, "CCL_MASTER_KEY")

    @cached_property
    def pseudonym_key_bytes(self) -> bytes:
        return _hex32(self.pseudonym_key, "CCL_PSEUDONYM_KEY")


def _hex32(secret: SecretStr, name: str) -> bytes:
    try:
        raw = bytes.fromhex(secret.get_secret_value().removeprefix("0x"))
    except ValueError:
        raise InputError(f"{name} must be hex") from None
    if len(raw) != 32:
        raise InputError(f"{name} must be 32 bytes (64 hex characters)")
    return raw
