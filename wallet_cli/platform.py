"""Talking to the platform API: one signed ``LedgerClient`` per command, errors made readable.

``platform(account)`` opens the client for the configured ``--api-url`` and turns what can go
wrong on the wire into one-line ``LedgerError``s:

- connection refused, DNS failure, timeouts -> ``error: platform unreachable at URL``,
- 503 ``replica_lagging`` -> the platform is behind the chain, try again shortly,
- any problem+json -> its ``detail`` (the client already rebuilt it as a ``LedgerError``),
- a response that is not the API's JSON (malformed, of the wrong shape, or nested deeper than
  any answer: ``BadResponseError``) -> "unexpected response from the platform".

Tests point the wallet at an in-process app by replacing ``CLIENT_FACTORY``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError

from ledger_api.api import schemas
from ledger_api.chain import eip712
from ledger_api.errors import BadResponseError, LedgerError, ReplicaLagError
from wallet_cli.config import current_config

if TYPE_CHECKING:  # the client pulls in FastAPI: imported only when a command needs it
    from ledger_api.client import LedgerClient

ClientFactory = Callable[[str, LocalAccount], "LedgerClient"]
REQUEST_TIMEOUT_S = 30.0


def _default_factory(api_url: str, account: LocalAccount) -> LedgerClient:
    from ledger_api.client import LedgerClient

    return LedgerClient(api_url, account, timeout=REQUEST_TIMEOUT_S)


# Replaced by tests to route requests to an in-process app (``LedgerClient(transport=...)``).
CLIENT_FACTORY: ClientFactory = _default_factory


class PlatformError(LedgerError):
    """The platform could not be reached or answered something the wallet cannot use."""

    code = "platform_error"
    status = 502
    title = "Platform error"


@contextmanager
def platform(account: LocalAccount | None = None) -> Iterator[LedgerClient]:
    """A client signing as ``account``; platform failures leave as one-line errors.

    Without an account (before the password is asked, to show what will be signed) only the
    public endpoints may be used: their requests carry a throwaway key's signature, which those
    endpoints do not read; ``act_as`` switches to the user's key once it is unlocked.
    """
    url = current_config().api_url
    client = CLIENT_FACTORY(url, account if account is not None else _nobody())
    try:
        with translated_errors(url):
            yield client
    finally:
        client.close()


def _nobody() -> LocalAccount:
    from eth_account import Account

    nobody: LocalAccount = Account.create()
    return nobody


def act_as(client: LedgerClient, account: LocalAccount) -> None:
    """Sign the client's next requests with ``account`` (unlocked after the summary)."""
    client.account = account


@contextmanager
def translated_errors(url: str) -> Iterator[None]:
    try:
        yield
    except ReplicaLagError as exc:
        raise PlatformError(
            f"the platform is behind the chain and cannot answer safely now ({exc.detail}); "
            "try again in a few seconds",
            code="platform_lagging",
        ) from exc
    except BadResponseError as exc:
        raise _bad_response(url) from exc
    except LedgerError:
        raise
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise PlatformError(f"platform unreachable at {url}", code="platform_unreachable") from exc
    except httpx.TimeoutException as exc:
        raise PlatformError(
            f"platform at {url} did not answer in time", code="platform_timeout"
        ) from exc
    except httpx.HTTPError as exc:
        raise PlatformError(
            f"platform request to {url} failed: {type(exc).__name__}", code="platform_error"
        ) from exc
    except (ValueError, ValidationError) as exc:  # not the shape the API promises
        raise _bad_response(url) from exc


def _bad_response(url: str) -> PlatformError:
    return PlatformError(
        f"unexpected response from the platform at {url} (is it a Credit Consent Ledger API?)",
        code="platform_bad_response",
    )


def domain_of(info: schemas.ChainInfo) -> eip712.Domain:
    """The EIP-712 domain the platform's contract uses (read by the API from the contract)."""
    return eip712.Domain(chain_id=info.chain_id, verifying_contract=info.contract)


def account_nonce(client: LedgerClient) -> tuple[schemas.ChainInfo, int]:
    """The chain info and the signer's current contract nonce (read from the chain by the API)."""
    info = client.chain_info(client.account.address)
    if info.account_nonce is None:
        raise PlatformError(
            "the platform did not report the account's nonce", code="platform_bad_response"
        )
    return info, info.account_nonce
