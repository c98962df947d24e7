"""Keystore files: the Web3 Secret Storage vectors, permissions, and refusing absurd KDFs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import eth_keyfile.keyfile
import pytest
from eth_account import Account
from pydantic import SecretStr
from walletkit import PASSWORD, Wallet, assert_one_line_error, mode_of

from wallet_cli.keystore import decrypt_keystore

# The test vectors of the Ethereum wiki's "Web3 Secret Storage Definition".
VECTOR_PASSWORD = "testpassword"
VECTOR_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
PBKDF2_VECTOR: dict[str, Any] = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
SCRYPT_VECTOR: dict[str, Any] = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {
            "dklen": 32,
            "n": 262144,
            "p": 8,
            "r": 1,
            "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
        },
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
VECTOR_ADDRESS = Account.from_key(VECTOR_KEY).address


@pytest.fixture(autouse=True)
def _vector_secrets(wallet: Wallet) -> None:
    wallet.secrets |= {VECTOR_PASSWORD, VECTOR_KEY}


@pytest.mark.parametrize("vector", [PBKDF2_VECTOR, SCRYPT_VECTOR], ids=["pbkdf2", "scrypt"])
def test_web3_secret_storage_vectors_decrypt(vector: dict[str, Any]) -> None:
    account = decrypt_keystore(vector, SecretStr(VECTOR_PASSWORD), label="vector")

    assert bytes(account.key).hex() == VECTOR_KEY


@pytest.mark.parametrize("vector", [PBKDF2_VECTOR, SCRYPT_VECTOR], ids=["pbkdf2", "scrypt"])
def test_web3_secret_storage_vector_imports_through_the_cli(
    wallet: Wallet, vector: dict[str, Any]
) -> None:
    vector_file = wallet.home.parent / "vector.json"
    vector_file.write_text(json.dumps(vector))
    password_file = wallet.secret_file("vector-password.txt", VECTOR_PASSWORD)

    result = wallet(
        [
            "import",
            "--name",
            "legacy",
            "--keystore-file",
            str(vector_file),
            "--password-file",
            str(password_file),
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert wallet(["address", "--name", "legacy"]).stdout.strip() == VECTOR_ADDRESS
    [stored] = wallet.keystore_files()
    stored_keystore = json.loads(stored.read_text())
    assert stored_keystore["crypto"] == vector["crypto"]  # imported as it is, same password
    assert stored_keystore["address"] == VECTOR_ADDRESS[2:].lower()


def test_wrong_password_for_an_imported_keystore_file(wallet: Wallet) -> None:
    vector_file = wallet.home.parent / "vector.json"
    vector_file.write_text(json.dumps(PBKDF2_VECTOR))

    result = wallet(
        ["import", "--name", "legacy", "--keystore-file", str(vector_file)],
        CCL_WALLET_PASSWORD=PASSWORD,
    )

    assert_one_line_error(result, 1, f"wrong password for keystore {vector_file}")
    assert wallet.keystore_files() == []


def test_keystore_directory_is_0700_and_files_0600(wallet: Wallet, password_file: Path) -> None:
    result = wallet(["new", "--name", "acme", "--password-file", str(password_file)])

    assert result.exit_code == 0, result.stderr
    assert mode_of(wallet.home) == 0o700
    assert mode_of(wallet.keystores) == 0o700
    [path] = wallet.keystore_files()
    assert mode_of(path) == 0o600


def test_a_loose_keystore_directory_is_tightened(wallet: Wallet, password_file: Path) -> None:
    wallet.keystores.mkdir(parents=True)
    wallet.keystores.chmod(0o755)

    wallet(["new", "--name", "acme", "--password-file", str(password_file)])

    assert mode_of(wallet.keystores) == 0o700


def test_no_temporary_file_is_left_behind(wallet: Wallet, password_file: Path) -> None:
    wallet(["new", "--name", "acme", "--password-file", str(password_file)])
    wallet(
        ["change-password", "--name", "acme", "--password-file", str(password_file)],
        CCL_WALLET_NEW_PASSWORD="yet another password",
    )

    leftovers = [p.name for p in wallet.keystores.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
    assert len(wallet.keystore_files()) == 1


def test_home_option_overrides_the_environment(
    wallet: Wallet, password_file: Path, tmp_path: Path
) -> None:
    other_home = tmp_path / "other-home"

    result = wallet(
        ["--home", str(other_home), "new", "--name", "acme", "--password-file", str(password_file)]
    )

    assert result.exit_code == 0, result.stderr
    assert len(list((other_home / "keystores").glob("acme--*.json"))) == 1
    assert wallet.keystore_files() == []


def _with(vector: dict[str, Any], kdf: str | None = None, **params: Any) -> dict[str, Any]:
    keystore = copy.deepcopy(vector)
    if kdf is not None:
        keystore["crypto"]["kdf"] = kdf
    keystore["crypto"]["kdfparams"].update(params)
    return keystore


ABSURD_KEYSTORES = {
    "scrypt n above 2^20": (_with(SCRYPT_VECTOR, n=2**30), "exceeds the maximum"),
    "scrypt n just above 2^20": (_with(SCRYPT_VECTOR, n=2**21), "exceeds the maximum"),
    "scrypt n below the floor": (_with(SCRYPT_VECTOR, n=2**4), "below the minimum"),
    "scrypt n not a power of two": (_with(SCRYPT_VECTOR, n=300000), "not a power of two"),
    "scrypt r*p too big": (_with(SCRYPT_VECTOR, n=2**10, r=1024, p=1024), "r*p"),
    "scrypt total work too big": (_with(SCRYPT_VECTOR, n=2**20, r=8, p=8), "n*r*p"),
    "pbkdf2 c too big": (_with(PBKDF2_VECTOR, c=10**12), "exceeds the maximum"),
    "pbkdf2 c below the floor": (_with(PBKDF2_VECTOR, c=1), "below the minimum"),
    "unknown kdf": (_with(SCRYPT_VECTOR, kdf="argon2id"), "unsupported key derivation"),
    "non-integer n": (_with(SCRYPT_VECTOR, n="262144"), "must be an integer"),
}


@pytest.fixture
def kdf_must_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the KDF ran on a keystore that should have been refused")

    monkeypatch.setattr(eth_keyfile.keyfile, "_scrypt_hash", refuse)
    monkeypatch.setattr(eth_keyfile.keyfile, "_pbkdf2_hash", refuse)


@pytest.mark.usefixtures("kdf_must_not_run")
@pytest.mark.parametrize(
    ("keystore", "reason"), list(ABSURD_KEYSTORES.values()), ids=list(ABSURD_KEYSTORES)
)
def test_absurd_kdf_parameters_are_refused_before_derivation(
    wallet: Wallet, keystore: dict[str, Any], reason: str
) -> None:
    wallet.keystores.mkdir(parents=True)
    name = f"legacy--{VECTOR_ADDRESS[2:].lower()}.json"
    (wallet.keystores / name).write_text(json.dumps(keystore))

    result = wallet(["sign-message", "hello", "--name", "legacy"], CCL_WALLET_PASSWORD=PASSWORD)

    assert_one_line_error(result, 2, "keystore legacy", reason)


@pytest.mark.usefixtures("kdf_must_not_run")
def test_absurd_keystore_file_is_refused_on_import(wallet: Wallet) -> None:
    absurd = wallet.home.parent / "absurd.json"
    absurd.write_text(json.dumps(_with(SCRYPT_VECTOR, n=2**40)))

    result = wallet(
        ["import", "--name", "legacy", "--keystore-file", str(absurd)],
        CCL_WALLET_PASSWORD=PASSWORD,
    )

    assert_one_line_error(result, 2, "refused before key derivation")
    assert wallet.keystore_files() == []


@pytest.mark.parametrize(
    "content",
    ["not json at all", "[]", json.dumps({"version": 4}), "{" * 70000],
    ids=["garbage", "array", "version-4", "huge"],
)
def test_malformed_keystore_is_a_one_line_error(wallet: Wallet, content: str) -> None:
    wallet.keystores.mkdir(parents=True)
    (wallet.keystores / f"legacy--{VECTOR_ADDRESS[2:].lower()}.json").write_text(content)

    result = wallet(["sign-message", "hello", "--name", "legacy"], CCL_WALLET_PASSWORD=PASSWORD)
    listing = wallet(["--json", "list"])

    assert_one_line_error(result, 2, "keystore legacy is malformed")
    assert json.loads(listing.stdout)[0]["kdf"] == "unreadable"


def test_keystore_whose_name_lies_about_its_address_is_refused(
    wallet: Wallet, password_file: Path
) -> None:
    wallet(["new", "--name", "acme", "--password-file", str(password_file)])
    [path] = wallet.keystore_files()
    path.rename(path.with_name("acme--" + "11" * 20 + ".json"))

    result = wallet(["sign-message", "x", "--name", "acme", "--password-file", str(password_file)])

    assert_one_line_error(result, 1, "corrupt")


def test_kdf_work_factor_env_must_be_a_sane_power_of_two(
    wallet: Wallet, password_file: Path
) -> None:
    result = wallet(
        ["new", "--name", "acme", "--password-file", str(password_file)],
        CCL_WALLET_KDF_N="1000",
    )

    assert_one_line_error(result, 2, "CCL_WALLET_KDF_N")
    assert wallet.keystore_files() == []
