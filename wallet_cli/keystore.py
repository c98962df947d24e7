"""Keystore v3 files (Web3 Secret Storage) in the wallet's keystore directory.

One file per named account, ``<name>--<address>.json`` (address: 40 lower-case hex digits),
mode 0600 in a 0700 directory, always written atomically (temp file in the same directory,
fsync, ``os.replace``, fsync of the directory) under an advisory lock, so that a crash or a
concurrent command never leaves a half-written or lost key.

Encryption and decryption are eth-account's (``Account.encrypt`` / ``Account.decrypt``). Before
any key derivation runs, the file's structure and KDF parameters are checked against fixed
bounds: a file with absurd parameters (scrypt n = 2**40, pbkdf2 c = 10**12, ...) would otherwise
make the wallet burn memory or CPU for hours, and one with a trivial work factor is not a
keystore we want to trust a key to.

Work factor of newly written files: scrypt with n = 2**18 (eth-account's default). The
environment variable ``CCL_WALLET_KDF_N`` lowers it FOR TESTS AND SCRIPTED DEMOS ONLY (e.g.
``CCL_WALLET_KDF_N=1024``): a keystore written that way is cheap to brute-force.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from pydantic import SecretStr

from ledger_api.errors import AuthError, ConflictError, InputError, IntegrityError, NotFoundError

KDF_N_ENV = "CCL_WALLET_KDF_N"
DEFAULT_SCRYPT_N = 2**18

# Bounds enforced on every keystore read, before the KDF runs.
MIN_SCRYPT_N = 2**10  # the lowest work factor the test suite writes
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R_TIMES_P = 64
# n*r*p bounds the CPU time; it also caps scrypt's memory (128*n*r bytes) at 1 GiB.
# 2**23 is four times geth's standard keystore (n=2**18, r=8, p=1).
MAX_SCRYPT_WORK = 2**23
MIN_PBKDF2_C = 10_000
MAX_PBKDF2_C = 10_000_000
MAX_KEYSTORE_BYTES = 64 * 1024
MAX_SALT_BYTES = 128

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FILE_RE = re.compile(r"(?P<name>.+)--(?P<address>[0-9a-f]{40})\.json")
_HEX_RE = re.compile(r"(?:0x)?[0-9a-fA-F]*")
_LOCK_FILE = ".lock"


# --------------------------------------------------------------------------- validation


def validate_name(name: str) -> str:
    """An account name usable as part of a file name: 1-64 of [A-Za-z0-9_.-], no '--'."""
    if not _NAME_RE.fullmatch(name) or "--" in name:
        raise InputError(
            f"invalid account name {name!r}: use 1-64 letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, no '--')",
            code="invalid_account_name",
        )
    return name


def kdf_work_factor(environ: Mapping[str, str] | None = None) -> int:
    """scrypt n for newly written keystores: 2**18, or ``CCL_WALLET_KDF_N`` (tests only)."""
    env = os.environ if environ is None else environ
    raw = env.get(KDF_N_ENV, "").strip()
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not _is_power_of_two(n) or not MIN_SCRYPT_N <= n <= MAX_SCRYPT_N:
        raise InputError(
            f"{KDF_N_ENV} must be a power of two between {MIN_SCRYPT_N} and {MAX_SCRYPT_N}",
            code="invalid_kdf_n",
        )
    return n


def private_key_from_hex(secret: SecretStr, source: str) -> bytes:
    """Parse a hex private key; errors name ``source`` and never echo the value."""
    text = secret.get_secret_value().strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise InputError(
            f"{source} does not hold a private key (expected 64 hex digits, 0x optional)",
            code="invalid_private_key",
        )
    key = bytes.fromhex(text)
    if not 0 < int.from_bytes(key, "big") < SECP256K1_ORDER:
        raise InputError(
            f"{source} does not hold a valid secp256k1 private key (out of range)",
            code="invalid_private_key",
        )
    return key


def check_keystore(data: object, label: str) -> dict[str, Any]:
    """Validate a v3 keystore's structure and KDF bounds without running the KDF.

    Returns the keystore with its keys lower-cased (old geth files say "Crypto").
    Raises InputError naming ``label`` (the account name or file) when it is refused.
    """
    keystore = _lower_keys(data)
    if not isinstance(keystore, dict):
        raise _malformed(label, "not a JSON object")
    version = keystore.get("version")
    if version != 3 or isinstance(version, bool):
        raise _malformed(label, f"unsupported version {version!r} (only version 3 is supported)")
    crypto = keystore.get("crypto")
    if not isinstance(crypto, dict):
        raise _malformed(label, "missing 'crypto' object")
    if crypto.get("cipher") != "aes-128-ctr":
        raise _malformed(label, f"unsupported cipher {crypto.get('cipher')!r}")
    cipherparams = crypto.get("cipherparams")
    if not isinstance(cipherparams, dict):
        raise _malformed(label, "missing 'cipherparams' object")
    _hex_field(cipherparams, "iv", label, exact=16)
    _hex_field(crypto, "ciphertext", label, exact=32)
    _hex_field(crypto, "mac", label, exact=32)
    kdfparams = crypto.get("kdfparams")
    if not isinstance(kdfparams, dict):
        raise _malformed(label, "missing 'kdfparams' object")
    kdf = crypto.get("kdf")
    if kdf == "scrypt":
        _check_scrypt(kdfparams, label)
    elif kdf == "pbkdf2":
        _check_pbkdf2(kdfparams, label)
    else:
        raise _refused(label, f"unsupported key derivation function {kdf!r}")
    if _int_param(kdfparams, "dklen", label) != 32:
        raise _refused(label, "dklen must be 32")
    _hex_field(kdfparams, "salt", label, minimum=1, maximum=MAX_SALT_BYTES)
    address = keystore.get("address")
    if address is not None and (
        not isinstance(address, str) or not re.fullmatch(r"(?:0x)?[0-9a-fA-F]{40}", address)
    ):
        raise _malformed(label, "'address' is not a 20-byte hex address")
    return keystore


def kdf_summary(keystore: Mapping[str, Any]) -> str:
    """'scrypt n=2^18' / 'pbkdf2 c=262144' for display (keystore already checked)."""
    crypto = keystore["crypto"]
    params = crypto["kdfparams"]
    if crypto["kdf"] == "scrypt":
        return f"scrypt n=2^{int(params['n']).bit_length() - 1}"
    return f"pbkdf2 c={params['c']}"


def _check_scrypt(params: dict[str, Any], label: str) -> None:
    n = _int_param(params, "n", label)
    r = _int_param(params, "r", label)
    p = _int_param(params, "p", label)
    if not _is_power_of_two(n):
        raise _refused(label, f"scrypt n={n} is not a power of two")
    if n > MAX_SCRYPT_N:
        raise _refused(label, f"scrypt n={n} exceeds the maximum {MAX_SCRYPT_N} (2^20)")
    if n < MIN_SCRYPT_N:
        raise _refused(label, f"scrypt n={n} is below the minimum {MIN_SCRYPT_N} (2^10)")
    if r < 1 or p < 1:
        raise _refused(label, "scrypt r and p must be at least 1")
    if r * p > MAX_SCRYPT_R_TIMES_P:
        raise _refused(label, f"scrypt r*p={r * p} exceeds the maximum {MAX_SCRYPT_R_TIMES_P}")
    if n * r * p > MAX_SCRYPT_WORK:
        raise _refused(label, f"scrypt work n*r*p={n * r * p} exceeds the maximum 2^23")


def _check_pbkdf2(params: dict[str, Any], label: str) -> None:
    if params.get("prf") != "hmac-sha256":
        raise _refused(label, f"unsupported pbkdf2 prf {params.get('prf')!r}")
    c = _int_param(params, "c", label)
    if c > MAX_PBKDF2_C:
        raise _refused(label, f"pbkdf2 c={c} exceeds the maximum {MAX_PBKDF2_C}")
    if c < MIN_PBKDF2_C:
        raise _refused(label, f"pbkdf2 c={c} is below the minimum {MIN_PBKDF2_C}")


def _int_param(params: Mapping[str, Any], key: str, label: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _malformed(label, f"KDF parameter {key!r} must be an integer")
    return value


def _hex_field(
    obj: Mapping[str, Any],
    key: str,
    label: str,
    *,
    exact: int | None = None,
    minimum: int = 0,
    maximum: int | None = None,
) -> None:
    value = obj.get(key)
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value) or len(value) % 2:
        raise _malformed(label, f"{key!r} is not a hex string")
    size = len(value.removeprefix("0x")) // 2
    if exact is not None and size != exact:
        raise _malformed(label, f"{key!r} must be {exact} bytes, got {size}")
    if size < minimum or (maximum is not None and size > maximum):
        raise _malformed(label, f"{key!r} has an invalid length ({size} bytes)")


def _lower_keys(value: object) -> object:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _malformed(label: str, why: str) -> InputError:
    return InputError(f"keystore {label} is malformed: {why}", code="keystore_malformed")


def _refused(label: str, why: str) -> InputError:
    return InputError(
        f"keystore {label} refused before key derivation: {why}", code="keystore_kdf_refused"
    )


# --------------------------------------------------------------------------- crypto


def encrypt_key(private_key: bytes, password: SecretStr, *, work_factor: int) -> dict[str, Any]:
    """A v3 keystore (scrypt, n = ``work_factor``) of ``private_key`` under ``password``."""
    return dict(
        Account.encrypt(
            private_key, password.get_secret_value(), kdf="scrypt", iterations=work_factor
        )
    )


def decrypt_keystore(data: object, password: SecretStr, *, label: str) -> LocalAccount:
    """Check ``data`` (see ``check_keystore``), then decrypt it with eth-account.

    Wrong password: AuthError "wrong password for keystore LABEL". A file whose recorded
    address differs from its key's: IntegrityError.
    """
    keystore = check_keystore(data, label)
    try:
        private_key = Account.decrypt(keystore, password.get_secret_value())
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise AuthError(f"wrong password for keystore {label}", code="wrong_password") from None
        raise _malformed(label, "eth-account could not decrypt it") from None
    account: LocalAccount = Account.from_key(private_key)
    recorded = keystore.get("address")
    if recorded is not None and recorded.lower().removeprefix("0x") != account.address[2:].lower():
        raise IntegrityError(
            f"keystore {label} is corrupt: its address field does not match its key",
            code="keystore_address_mismatch",
        )
    return account


def read_keystore_file(path: Path, label: str) -> dict[str, Any]:
    """Read and check a keystore file (size-limited; KDF bounds checked, KDF not run)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_KEYSTORE_BYTES + 1)
    except FileNotFoundError:
        raise NotFoundError(
            f"keystore file {path} does not exist", code="keystore_missing"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read keystore file {path}: {exc.strerror}") from None
    if len(raw) > MAX_KEYSTORE_BYTES:
        raise _malformed(label, f"file is larger than {MAX_KEYSTORE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _malformed(label, "not valid JSON") from None
    return check_keystore(data, label)


# --------------------------------------------------------------------------- directory


@dataclass(frozen=True)
class KeystoreEntry:
    name: str
    address: str  # EIP-55 checksummed
    path: Path


class KeystoreDir:
    """The directory of named keystore files. Mutations hold an exclusive advisory lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> Path:
        """Create the directory (and its parent) 0700 if needed; tighten it to 0700."""
        self.root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.mkdir(mode=0o700, exist_ok=True)
        if self.root.stat().st_mode & 0o077:
            os.chmod(self.root, 0o700)
        return self.root

    def entries(self) -> list[KeystoreEntry]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.iterdir()):
            match = _FILE_RE.fullmatch(path.name)
            if match is None or not path.is_file():
                continue
            name = match["name"]
            if not _NAME_RE.fullmatch(name) or "--" in name:
                continue
            found.append(KeystoreEntry(name, to_checksum_address("0x" + match["address"]), path))
        return sorted(found, key=lambda e: e.name.lower())

    def find(self, name: str) -> KeystoreEntry:
        """The entry named ``name`` (case-insensitive), or NotFoundError."""
        validate_name(name)
        for entry in self.entries():
            if entry.name.lower() == name.lower():
                return entry
        raise NotFoundError(
            f"no keystore named {name!r} in {self.root} (see 'ccl-wallet list')",
            code="keystore_not_found",
        )

    def load(self, entry: KeystoreEntry) -> dict[str, Any]:
        return read_keystore_file(entry.path, entry.name)

    def unlock(self, entry: KeystoreEntry, password: SecretStr) -> LocalAccount:
        account = decrypt_keystore(self.load(entry), password, label=entry.name)
        if account.address != entry.address:
            raise IntegrityError(
                f"keystore {entry.name} is corrupt: its file name does not match its key",
                code="keystore_address_mismatch",
            )
        return account

    def add(self, name: str, keystore: Mapping[str, Any], address: str) -> KeystoreEntry:
        """Store a new keystore; refuses a taken name or an address already stored."""
        validate_name(name)
        address = to_checksum_address(address)
        self.ensure()
        with self._locked():
            for entry in self.entries():
                if entry.name.lower() == name.lower():
                    raise ConflictError(
                        f"a keystore named {entry.name!r} already exists", code="keystore_exists"
                    )
                if entry.address == address:
                    raise ConflictError(
                        f"address {address} is already stored as {entry.name!r}",
                        code="keystore_exists",
                    )
            stored = dict(keystore)
            stored["address"] = address[2:].lower()
            path = self.root / f"{name}--{address[2:].lower()}.json"
            atomic_write_json(path, stored)
        return KeystoreEntry(name, address, path)

    def replace(self, entry: KeystoreEntry, keystore: Mapping[str, Any]) -> None:
        """Atomically replace an entry's file (e.g. re-encrypted under a new password)."""
        with self._locked():
            if not entry.path.exists():
                raise NotFoundError(f"keystore {entry.name} disappeared", code="keystore_not_found")
            atomic_write_json(entry.path, keystore)

    def remove(self, entry: KeystoreEntry) -> None:
        with self._locked():
            try:
                entry.path.unlink()
            except FileNotFoundError:
                raise NotFoundError(
                    f"keystore {entry.name} disappeared", code="keystore_not_found"
                ) from None
            _fsync_dir(self.root)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.ensure()
        fd = os.open(self.root / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` (mode 0600) so that readers see the old or the new file."""
    payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
