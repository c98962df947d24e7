"""Key verbs: new, import, list, address, change-password, remove, sign-message.

``unlock(name)`` is the one way any command gets a usable account: it finds the named keystore,
gets its password (``--password-file``, ``CCL_WALLET_PASSWORD`` or a hidden prompt) and
decrypts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from ledger_api.errors import ConflictError, InputError
from wallet_cli.config import WalletConfig, current_config
from wallet_cli.keystore import (
    KeystoreDir,
    KeystoreEntry,
    decrypt_keystore,
    encrypt_key,
    kdf_summary,
    kdf_work_factor,
    read_keystore_file,
    validate_name,
)
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, confirm, get_output, note
from wallet_cli.secret_input import (
    NEW_PASSWORD_ENV,
    existing_password,
    new_password,
    private_key_input,
)


def keystore_dir(config: WalletConfig | None = None) -> KeystoreDir:
    return KeystoreDir((config or current_config()).keystore_dir)


def unlock(
    name: str, *, password_file: Path | None = None, config: WalletConfig | None = None
) -> LocalAccount:
    """Decrypt the keystore ``name`` and return its account (for signing).

    Raises NotFoundError (no such keystore, checked before asking for the password),
    AuthError "wrong password for keystore NAME", InputError (refused/malformed keystore).
    """
    store = keystore_dir(config)
    entry = store.find(name)
    password = existing_password(f"Password for keystore {entry.name}", password_file=password_file)
    return store.unlock(entry, password)


def backup_warning(path: Path) -> str:
    return (
        f"BACK UP {path} NOW, and keep its password apart from it: the key exists nowhere "
        "else, and without both the account cannot be recovered (not even by the platform)."
    )


def _entry_record(entry: KeystoreEntry) -> dict[str, str]:
    return {"name": entry.name, "address": entry.address, "keystore": str(entry.path)}


def _refuse_taken(store: KeystoreDir, name: str, address: str | None = None) -> None:
    """Fail before any prompt when the name (or the address) is already stored."""
    for entry in store.entries():
        if entry.name.lower() == name.lower():
            raise ConflictError(
                f"a keystore named {entry.name!r} already exists", code="keystore_exists"
            )
        if address is not None and entry.address == address:
            raise ConflictError(
                f"address {address} is already stored as {entry.name!r}", code="keystore_exists"
            )


def new(
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Create a new account: a fresh random key in an encrypted keystore."""
    validate_name(name)
    store = keystore_dir()
    _refuse_taken(store, name)
    work_factor = kdf_work_factor()
    password = new_password(password_file=password_file)
    account = Account.create()
    entry = store.add(
        name, encrypt_key(account.key, password, work_factor=work_factor), account.address
    )
    get_output().record(_entry_record(entry), title="Created a new account")
    note(backup_warning(entry.path))


def import_(
    name: AccountName = DEFAULT_ACCOUNT,
    private_key_file: Annotated[
        Path | None,
        typer.Option(
            "--private-key-file",
            help="Read the hex private key from this file (else a hidden prompt).",
            dir_okay=False,
        ),
    ] = None,
    keystore_file: Annotated[
        Path | None,
        typer.Option(
            "--keystore-file",
            help="Import an existing v3 keystore file as it is (it keeps its password).",
            dir_okay=False,
        ),
    ] = None,
    password_file: PasswordFile = None,
) -> None:
    """Import an existing key (hidden prompt or --private-key-file) or v3 keystore file."""
    validate_name(name)
    if private_key_file is not None and keystore_file is not None:
        raise InputError("give --private-key-file or --keystore-file, not both")
    store = keystore_dir()
    _refuse_taken(store, name)
    if keystore_file is not None:
        label = str(keystore_file)
        keystore = read_keystore_file(keystore_file, label)
        password = existing_password(f"Password of {label}", password_file=password_file)
        account = decrypt_keystore(keystore, password, label=label)
        _refuse_taken(store, name, account.address)
        entry = store.add(name, keystore, account.address)
    else:
        work_factor = kdf_work_factor()
        private_key = private_key_input(private_key_file)
        address = to_checksum_address(Account.from_key(private_key).address)
        _refuse_taken(store, name, address)
        password = new_password(password_file=password_file)
        entry = store.add(
            name, encrypt_key(private_key, password, work_factor=work_factor), address
        )
    get_output().record(_entry_record(entry), title="Imported account")


def list_() -> None:
    """List the accounts in the keystore directory (no password needed)."""
    store = keystore_dir()
    rows = []
    for entry in store.entries():
        try:
            kdf = kdf_summary(store.load(entry))
        except Exception:  # one bad file must not hide the others
            kdf = "unreadable"
        rows.append({**_entry_record(entry), "kdf": kdf})
    get_output().rows(
        rows,
        [Column("name", "Name"), Column("address", "Address", no_wrap=True), Column("kdf", "KDF")],
        empty=f"no accounts in {store.root} (create one with 'ccl-wallet new')",
    )


def address(name: AccountName = DEFAULT_ACCOUNT) -> None:
    """Print an account's address (no password needed)."""
    entry = keystore_dir().find(name)
    get_output().done(entry.address, {"name": entry.name, "address": entry.address})


def change_password(
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    new_password_file: Annotated[
        Path | None,
        typer.Option(
            "--new-password-file",
            help="Read the new password from this file "
            f"(else env {NEW_PASSWORD_ENV}, else a hidden prompt).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Re-encrypt an account's keystore under a new password (atomically)."""
    work_factor = kdf_work_factor()
    store = keystore_dir()
    entry = store.find(name)
    account = store.unlock(
        entry,
        existing_password(
            f"Current password for keystore {entry.name}", password_file=password_file
        ),
    )
    password = new_password(
        password_file=new_password_file, env_var=current_config().new_password_env
    )
    store.replace(entry, encrypt_key(account.key, password, work_factor=work_factor))
    get_output().done(
        f"Changed the password of keystore {entry.name} ({entry.address})",
        {**_entry_record(entry), "password_changed": True},
    )


def remove(
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Delete an account's keystore (asks its password first, then for confirmation)."""
    store = keystore_dir()
    entry = store.find(name)
    store.unlock(
        entry, existing_password(f"Password for keystore {entry.name}", password_file=password_file)
    )
    confirm(
        f"Remove keystore {entry.name} ({entry.address})? Without a backup the key is lost",
        assume_yes=yes,
    )
    store.remove(entry)
    get_output().done(
        f"Removed keystore {entry.name} ({entry.address})",
        {**_entry_record(entry), "removed": True},
    )


def sign_message(
    message: Annotated[
        str | None, typer.Argument(help="The text to sign (or use --message-file).")
    ] = None,
    message_file: Annotated[
        Path | None,
        typer.Option("--message-file", help="Sign the UTF-8 text of this file.", dir_okay=False),
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Sign a text with EIP-191 personal_sign, to prove control of the account."""
    if (message is None) == (message_file is None):
        raise InputError("give the message as an argument or with --message-file (one of them)")
    if message_file is not None:
        try:
            text = message_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read message file {message_file}: {exc}") from None
    else:
        assert message is not None
        text = message
    account = unlock(name, password_file=password_file)
    signed = account.sign_message(encode_defunct(text=text))
    get_output().record(
        {
            "name": name,
            "address": account.address,
            "message": text,
            "signature": "0x" + bytes(signed.signature).hex(),
        }
    )


def register(app: typer.Typer) -> None:
    """Add the key verbs to the ``ccl-wallet`` app."""
    app.command("new")(new)
    app.command("import")(import_)
    app.command("list")(list_)
    app.command("address")(address)
    app.command("change-password")(change_password)
    app.command("remove")(remove)
    app.command("sign-message")(sign_message)
