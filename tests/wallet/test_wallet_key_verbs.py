"""The key verbs, driven through the CLI as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct
from walletkit import (
    OTHER_PASSWORD,
    PASSWORD,
    PRIVATE_KEY,
    Wallet,
    assert_one_line_error,
)

KEY_ADDRESS = Account.from_key(PRIVATE_KEY).address


def create(wallet: Wallet, name: str, password_file: Path) -> str:
    result = wallet(["--json", "new", "--name", name, "--password-file", str(password_file)])
    assert result.exit_code == 0, result.stderr
    address = json.loads(result.stdout)["address"]
    assert isinstance(address, str)
    return address


def test_new_with_hidden_prompt_writes_a_keystore_eth_account_decrypts(wallet: Wallet) -> None:
    result = wallet(["new", "--name", "acme"], input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.stderr
    [path] = wallet.keystore_files()
    key = Account.decrypt(json.loads(path.read_text()), PASSWORD)
    address = Account.from_key(key).address
    assert address in result.stdout
    assert path.name == f"acme--{address[2:].lower()}.json"
    wallet.secrets.add(key.hex())


def test_new_prompt_asks_again_until_both_entries_match(wallet: Wallet) -> None:
    typed = f"{PASSWORD}\n{OTHER_PASSWORD}\n{PASSWORD}\n{PASSWORD}\n"
    result = wallet(["new", "--name", "acme"], input=typed)

    assert result.exit_code == 0, result.stderr
    [path] = wallet.keystore_files()
    Account.decrypt(json.loads(path.read_text()), PASSWORD)


def test_new_refuses_a_short_password(wallet: Wallet) -> None:
    result = wallet(["new", "--name", "acme"], input="short\nshort\n")

    assert_one_line_error(result, 2, "at least 8 characters")
    assert wallet.keystore_files() == []


def test_new_refuses_a_name_already_taken(wallet: Wallet, password_file: Path) -> None:
    create(wallet, "acme", password_file)

    result = wallet(["new", "--name", "ACME", "--password-file", str(password_file)])

    assert_one_line_error(result, 1, "already exists")
    assert len(wallet.keystore_files()) == 1


def test_password_may_come_from_the_environment(wallet: Wallet) -> None:
    result = wallet(["new", "--name", "acme"], CCL_WALLET_PASSWORD=PASSWORD)
    assert result.exit_code == 0, result.stderr

    signed = wallet(["sign-message", "hi", "--name", "acme"], CCL_WALLET_PASSWORD=PASSWORD)
    assert signed.exit_code == 0, signed.stderr


def test_list_shows_every_account_with_its_address(wallet: Wallet, password_file: Path) -> None:
    acme = create(wallet, "acme", password_file)
    beta = create(wallet, "beta", password_file)

    table = wallet(["list"])
    as_json = wallet(["list", "--json"])

    assert table.exit_code == 0
    assert "acme" in table.stdout and acme in table.stdout
    assert "beta" in table.stdout and beta in table.stdout
    rows = json.loads(as_json.stdout)
    assert [(r["name"], r["address"], r["kdf"]) for r in rows] == [
        ("acme", acme, "scrypt n=2^10"),
        ("beta", beta, "scrypt n=2^10"),
    ]


def test_list_of_an_empty_wallet_says_so(wallet: Wallet) -> None:
    table = wallet(["list"])
    as_json = wallet(["--json", "list"])

    assert table.exit_code == 0 and table.stdout == ""
    assert "no accounts" in table.stderr
    assert json.loads(as_json.stdout) == []


def test_address_needs_no_password(wallet: Wallet, password_file: Path) -> None:
    acme = create(wallet, "acme", password_file)

    result = wallet(["address", "--name", "acme"])

    assert result.exit_code == 0
    assert result.stdout.strip() == acme


def test_import_private_key_from_file(wallet: Wallet, password_file: Path) -> None:
    key_file = wallet.secret_file("key.txt", "0x" + PRIVATE_KEY)

    result = wallet(
        [
            "import",
            "--name",
            "acme",
            "--private-key-file",
            str(key_file),
            "--password-file",
            str(password_file),
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert KEY_ADDRESS in result.stdout
    [path] = wallet.keystore_files()
    assert Account.decrypt(json.loads(path.read_text()), PASSWORD).hex() == PRIVATE_KEY


def test_import_private_key_from_hidden_prompt(wallet: Wallet) -> None:
    result = wallet(["import", "--name", "acme"], input=f"{PRIVATE_KEY}\n{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.stderr
    address = wallet(["address", "--name", "acme"])
    assert address.stdout.strip() == KEY_ADDRESS


def test_import_refuses_an_address_already_stored(wallet: Wallet, password_file: Path) -> None:
    key_file = wallet.secret_file("key.txt", PRIVATE_KEY)
    args = ["--private-key-file", str(key_file), "--password-file", str(password_file)]
    assert wallet(["import", "--name", "first", *args]).exit_code == 0

    result = wallet(["import", "--name", "second", *args])

    assert_one_line_error(result, 1, KEY_ADDRESS, "'first'")


def test_import_refuses_a_malformed_key_without_echoing_it(wallet: Wallet) -> None:
    almost_a_key = PRIVATE_KEY[:-1] + "g"
    wallet.secrets.add(almost_a_key)
    key_file = wallet.secret_file("key.txt", almost_a_key)

    result = wallet(["import", "--name", "acme", "--private-key-file", str(key_file)])

    assert_one_line_error(result, 2, "does not hold a private key")
    assert wallet.keystore_files() == []


def test_change_password_reencrypts_under_the_new_password(
    wallet: Wallet, password_file: Path
) -> None:
    acme = create(wallet, "acme", password_file)
    new_file = wallet.secret_file("new-password.txt", OTHER_PASSWORD)

    result = wallet(
        [
            "change-password",
            "--name",
            "acme",
            "--password-file",
            str(password_file),
            "--new-password-file",
            str(new_file),
        ]
    )

    assert result.exit_code == 0, result.stderr
    [path] = wallet.keystore_files()
    keystore = json.loads(path.read_text())
    assert Account.from_key(Account.decrypt(keystore, OTHER_PASSWORD)).address == acme
    old = wallet(["sign-message", "x", "--name", "acme", "--password-file", str(password_file)])
    assert_one_line_error(old, 1, "wrong password for keystore acme")


def test_change_password_by_prompts(wallet: Wallet, password_file: Path) -> None:
    create(wallet, "acme", password_file)
    typed = f"{PASSWORD}\n{OTHER_PASSWORD}\n{OTHER_PASSWORD}\n"

    result = wallet(["change-password", "--name", "acme"], input=typed)

    assert result.exit_code == 0, result.stderr
    [path] = wallet.keystore_files()
    Account.decrypt(json.loads(path.read_text()), OTHER_PASSWORD)


def test_change_password_with_wrong_current_password_changes_nothing(
    wallet: Wallet, password_file: Path
) -> None:
    create(wallet, "acme", password_file)
    [path] = wallet.keystore_files()
    before = path.read_bytes()

    result = wallet(
        ["change-password", "--name", "acme"],
        input=f"{OTHER_PASSWORD}\n",
        CCL_WALLET_NEW_PASSWORD=OTHER_PASSWORD,
    )

    assert_one_line_error(result, 1, "wrong password for keystore acme")
    assert path.read_bytes() == before


def test_remove_asks_the_password_then_confirmation(wallet: Wallet, password_file: Path) -> None:
    create(wallet, "acme", password_file)

    wrong = wallet(["remove", "--name", "acme"], input=f"{OTHER_PASSWORD}\ny\n")
    declined = wallet(["remove", "--name", "acme"], input=f"{PASSWORD}\nn\n")

    assert_one_line_error(wrong, 1, "wrong password for keystore acme")
    assert declined.exit_code == 1 and "error: aborted" in declined.stderr
    assert len(wallet.keystore_files()) == 1

    removed = wallet(["remove", "--name", "acme"], input=f"{PASSWORD}\ny\n")

    assert removed.exit_code == 0, removed.stderr
    assert wallet.keystore_files() == []


def test_remove_yes_skips_the_confirmation_but_never_the_password(
    wallet: Wallet, password_file: Path
) -> None:
    create(wallet, "acme", password_file)

    no_password = wallet(["remove", "--name", "acme", "--yes"])  # prompt meets end of input
    assert no_password.exit_code != 0
    assert len(wallet.keystore_files()) == 1

    removed = wallet(["remove", "--name", "acme", "--yes", "--password-file", str(password_file)])
    assert removed.exit_code == 0, removed.stderr
    assert wallet.keystore_files() == []


def test_sign_message_is_an_eip191_signature_by_the_account(
    wallet: Wallet, password_file: Path
) -> None:
    acme = create(wallet, "acme", password_file)
    text = "I control this wallet: 91350100M000100Y43"

    result = wallet(
        ["--json", "sign-message", text, "--name", "acme", "--password-file", str(password_file)]
    )

    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["address"] == acme and out["message"] == text
    assert Account.recover_message(encode_defunct(text=text), signature=out["signature"]) == acme


def test_sign_message_from_a_file(wallet: Wallet, password_file: Path) -> None:
    acme = create(wallet, "acme", password_file)
    message_file = wallet.home.parent / "message.txt"
    message_file.write_text("line one\nline two\n", encoding="utf-8")

    result = wallet(
        [
            "sign-message",
            "--message-file",
            str(message_file),
            "--name",
            "acme",
            "--password-file",
            str(password_file),
            "--json",
        ]
    )

    assert result.exit_code == 0, result.stderr
    signature = json.loads(result.stdout)["signature"]
    message = encode_defunct(text="line one\nline two\n")
    assert Account.recover_message(message, signature=signature) == acme
