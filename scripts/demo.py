"""The whole mission, end to end, on the embedded chain and SQLite (`make demo`).

The platform (chain, database, indexer, API) runs in this process and serves HTTP on a free
localhost port; the provider, regulator and operator talk to it with the signed client, the
enterprise uses the real wallet CLI (`ccl-wallet`) and the bank the real bank CLI (`ccl-bank`)
in subprocesses, as their staff would. Each step is narrated; the run ends with a summary and
exits 0 only if every check held.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from eth_account import Account
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ledger_api.chain.anchorer import ChainAnchorer  # noqa: E402
from ledger_api.chain.transactor import Transactor  # noqa: E402
from ledger_api.chain.types import InstitutionType  # noqa: E402
from ledger_api.client import LedgerClient  # noqa: E402
from ledger_api.errors import LedgerError  # noqa: E402
from ledger_api.identity.uscc import subject_id  # noqa: E402
from ledger_api.settings import Settings  # noqa: E402
from ledger_api.stack import EmbeddedStack  # noqa: E402
from ledger_api.synth import financing as synth_financing  # noqa: E402
from ledger_api.synth.generator import iter_all_records, iter_enterprises  # noqa: E402
from ledger_api.verify import verify_database  # noqa: E402

ENTERPRISES = 300
SEED = 2026
WALLET_PASSWORD = "demo-only-password"
console = Console(highlight=False, width=110)
T = TypeVar("T")
checks: list[tuple[str, bool]] = []


def step(number: int, text: str) -> None:
    console.print(f"\n[bold cyan]Step {number}.[/bold cyan] [bold]{text}[/bold]")


def say(text: str) -> None:
    console.print(f"   {text}")


def check(label: str, ok: bool) -> None:
    checks.append((label, ok))
    console.print(f"   {'[green]✓' if ok else '[red]✗'} {label}[/]")


def wait_until(condition: Callable[[], T | None], what: str, timeout_s: float = 20.0) -> T:
    """Poll until ``condition`` returns something truthy (the indexer works in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = condition()
        except LedgerError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: timed out waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Terminal:
    """One party at its own CLI (`ccl-wallet`, `ccl-bank`) in subprocesses, as a person would."""

    def __init__(self, program: str, prefix: str, home: Path, api_url: str) -> None:
        self.program = program
        self.env = {
            **os.environ,
            f"{prefix}_HOME": str(home),
            f"{prefix}_API_URL": api_url,
            f"{prefix}_PASSWORD": WALLET_PASSWORD,
            # Lower scrypt work factor: the demo's throwaway keystores only (default is 2**18).
            "CCL_WALLET_KDF_N": str(2**14),
        }
        self.exe = str(Path(sys.executable).with_name(program))

    def run(self, *args: str, json_output: bool = True, ok_codes: tuple[int, ...] = (0,)) -> Any:
        command = [self.exe, *(["--json"] if json_output else []), *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        shown = " ".join(a for a in args)
        if done.returncode not in ok_codes:
            raise SystemExit(f"demo failed: `{self.program} {shown}`: {done.stderr.strip()}")
        say(f"[dim]$ {self.program} {shown}[/dim]")
        return json.loads(done.stdout) if json_output and done.stdout.strip() else done.stdout


def import_key(cli: Terminal, key: bytes, workdir: Path) -> None:
    """The bank's existing key into its keystore, from a file readable by it alone."""
    key_file = workdir / "bank-key.txt"
    key_file.touch(mode=0o600)
    key_file.write_text(key.hex() + "\n")
    try:
        cli.run("import", "--private-key-file", str(key_file))
    finally:
        key_file.unlink()


def serve(stack: EmbeddedStack, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(stack.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, name="api", daemon=True).start()
    wait_until(lambda: server.started, "the API to start")
    return server


def post_loan_alert(
    wallet: Terminal, bank: LedgerClient, provider: LedgerClient, uscc: str, bank_address: str
) -> int:
    """The enterprise grants post-loan monitoring of judicial records; the bank subscribes
    with a webhook (a receiver that verifies signatures, as ``ccl-bank webhook-receiver``);
    a judgment is ingested; the alert arrives; the bank reads the record under the grant.
    Returns the monitoring grant's id."""
    from wallet_cli.bank.monitoring_commands import serve_receiver

    granted = wallet.run(
        "grant", "--institution", bank_address, "--categories", "judicial",
        "--purpose", "post_loan_monitoring", "--level", "query", "--days", "365", "--yes",
    )  # fmt: skip
    grant_id = int(granted["grant_id"])
    say(f"grant #{grant_id}: post-loan monitoring of judicial records")

    def subscribed() -> dict[str, Any] | None:
        response = bank.send(
            "POST",
            "/v1/institution/subscriptions",
            json_body={"kind": "risk_alerts", "categories": ["judicial"], "webhook_url": hook},
        )
        return response.json() if response.status_code == 201 else None

    receiver = serve_receiver(0, None)  # its port first; the secret comes with the reply
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/alerts"
    subscription = wait_until(subscribed, "the monitoring grant to reach the replica")
    receiver.use_secret(subscription["secret"])
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    say(f"subscription #{subscription['id']}: risk alerts on judicial records to {hook}")
    judgment = {
        "uscc": uscc, "record_key": "demo-judgment-1", "case_no": "(2026)豫01民初8888号",
        "case_type": "commercial", "court": "郑州市中级人民法院", "role": "defendant",
        "judgment_date": "2026-12-01", "amount": "1250000.00", "status": "judged",
    }  # fmt: skip
    provider.ingest("judicial", (json.dumps(judgment, ensure_ascii=False) + "\n").encode())
    say("the court's batch with a judgment against the enterprise is ingested and anchored")

    def alert() -> dict[str, Any] | None:
        page = bank.call(
            "GET", "/v1/institution/events", params={"subscription": subscription["id"]}
        )
        mine = bank.call("GET", "/v1/institution/subscriptions")
        delivered = any(s["delivered_up_to"] >= 1 for s in mine)
        return page["events"][0]["data"] if page["events"] and delivered else None

    data = wait_until(alert, "the alert to be delivered")
    receiver.shutdown()
    say(f"alert #{data['event_number']}: {data['kind']} on {data['category_name']}, record "
        f"{data['record_uid'][:18]}… (no data in it)")  # fmt: skip
    check("the webhook alert arrived signed, thin (ids only)", "amount" not in json.dumps(data))
    page = bank.records(
        uscc, category="judicial", purpose="post_loan_monitoring", grant_id=grant_id
    )
    read = [r for r in page.records if r.record_uid == data["record_uid"]]
    check("the bank reads the judgment under its monitoring grant", len(read) == 1)
    return grant_id


def main() -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ccl-demo-"))
    settings = Settings(
        data_dir=workdir / "platform",
        access_log_anchor_every_s=3600,  # the demo anchors the log explicitly (step 8)
        indexer_poll_interval_s=0.2,
    )
    console.rule("[bold]Credit Consent Ledger — end-to-end demo")
    say(f"Embedded chain and SQLite under {workdir}")

    stack = EmbeddedStack(settings)
    stack.start()
    port = free_port()
    server = serve(stack, port)
    api = f"http://127.0.0.1:{port}"
    deployment = stack.context.ledger.deployment
    say(f"Ledger contract {deployment.address} on chain {deployment.chain_id}; API at {api}")

    # Members use funded dev keys of the embedded chain so that they can send their own
    # transactions (an institution accepts its agreement itself).
    operator_key = Account.from_key(settings.operator_key.get_secret_value())
    bank_key, provider_key, regulator_key = (
        Account.from_key(i.to_bytes(32, "big")) for i in (2, 3, 4)
    )
    operator = LedgerClient(api, operator_key)
    bank = LedgerClient(api, bank_key)
    provider = LedgerClient(api, provider_key)
    regulator = LedgerClient(api, regulator_key)
    try:
        step(1, "The operator registers a bank and a data provider; governance a regulator")
        operator.register_institution(
            bank_key.address, int(InstitutionType.BANK), "中原银行郑州分行"
        )
        operator.grant_role("PROVIDER_ROLE", provider_key.address)
        # Regulators are appointed by the separate governance key, never by the operator.
        governance = Transactor(
            stack.w3, Account.from_key(settings.governance_key.get_secret_value())
        )
        stack.context.ledger.grant_role(governance, "REGULATOR_ROLE", regulator_key.address)
        say(
            f"bank {bank_key.address}, provider {provider_key.address}, "
            f"regulator {regulator_key.address}"
        )
        profile = stack.context.ledger.institution_profile(bank_key.address)
        check(
            "the bank is registered on chain"
            + (f": {profile[0]} ({profile[1].name.lower()})" if profile else ""),
            profile is not None,
        )

        step(2, "Data-sharing agreement: proposed by the operator, accepted by the bank gaslessly")
        now = int(time.time())
        agreement_id = operator.propose_agreement(
            bank_key.address,
            categories=[
                "registration",
                "tax",
                "social_insurance",
                "judicial",
                "administrative",
                "utilities",
            ],
            purposes=["loan_application", "post_loan_monitoring"],
            not_before=now - 60,
            not_after=now + 365 * 86400,
            document_hash=bytes.fromhex("ab" * 32),
        )
        bank_cli = Terminal("ccl-bank", "CCL_BANK", workdir / "bank", api)
        import_key(bank_cli, bytes(bank_key.key), workdir)
        wait_until(
            lambda: any(
                a["agreement_id"] == agreement_id and a["status"] == "proposed"
                for a in bank_cli.run("agreements")
            ),
            "the proposal to reach the bank",
        )
        accepted = bank_cli.run("accept", str(agreement_id), "--yes")
        say(
            f"the bank signed an EIP-712 acceptance; the platform relayed it in "
            f"{accepted['tx_hash']} (the bank spent no gas)"
        )
        active = wait_until(
            lambda: [
                a
                for a in bank_cli.run("agreements")
                if a["agreement_id"] == agreement_id and a["status"] == "active"
            ],
            "the acceptance to reach the replica",
        )
        check(f"agreement #{agreement_id} accepted by the bank without gas", bool(active))

        step(3, f"The provider ingests generated records for {ENTERPRISES} Henan enterprises")
        # The API learns roles from the indexer's replica of the chain, a poll interval later.
        wait_until(
            lambda: "provider" in stack.context.state().roles_of(provider_key.address),
            "the provider role to reach the API",
        )
        by_category: dict[str, list[str]] = {}
        for category, row in iter_all_records(ENTERPRISES, SEED):
            by_category.setdefault(category, []).append(json.dumps(row, ensure_ascii=False))
        total = 0
        for category, rows in sorted(by_category.items()):
            result = provider.ingest(category, ("\n".join(rows) + "\n").encode())
            total += result.accepted
            if result.rejected:
                raise SystemExit(f"demo failed: {category} rows rejected: {result.rejected[:3]}")
        say(f"{total} records in {len(by_category)} batches, each anchored as one Merkle root")
        check("every batch stored and anchored", total > 0)

        step(4, "An enterprise creates a wallet, registers its USCC and is approved")
        enterprise = next(iter_enterprises(1, SEED))
        say(f"{enterprise.name} (USCC {enterprise.uscc})")
        wallet = Terminal("ccl-wallet", "CCL_WALLET", workdir / "wallet", api)
        wallet.run("new", "--name", "default")
        registration = wallet.run("register", enterprise.uscc, "--yes")
        approved = operator.approve_registration(int(registration["registration_id"]))
        say(f"registration #{approved.id} approved; bound in transaction {approved.tx_hash}")
        status = wallet.run("registration-status")
        check(
            "registration approved and bound on chain",
            str(status.get("status", "")).lower() in {"approved", "bound"},
        )

        step(
            5,
            "The enterprise grants the bank QUERY on tax and social insurance "
            "for a loan application",
        )
        granted = wallet.run(
            "grant",
            "--institution",
            bank_key.address,
            "--categories",
            "tax,social_insurance",
            "--purpose",
            "loan_application",
            "--level",
            "query",
            "--days",
            "90",
            "--yes",
        )
        grant_id = int(granted["grant_id"])
        say(f"grant #{grant_id} signed with EIP-712 by the wallet and relayed by the platform")

        step(6, "The bank checks the grant, then reads the report, the records and a verification")
        subject = enterprise.uscc
        usable = wait_until(
            lambda: [g for g in bank_cli.run("grants", "--usable") if g["grant_id"] == grant_id],
            "the grant to reach the replica",
        )
        say(
            f"grant #{grant_id} from USCC {usable[0].get('subject_uscc')}: "
            f"{usable[0].get('status')}"
        )
        checked = bank_cli.run(
            "check", str(grant_id), "--category", "tax", "--purpose", "loan_application"
        )
        check(f"grant #{grant_id} checked before querying: usable", bool(checked["usable"]))
        report = bank_cli.run("report", subject, "--purpose", "loan_application")
        say(
            "standard report (PUBLIC fields): "
            f"{sum(len(v) for v in report['categories'].values())} records; "
            f"access-log entry #{report['receipt']['access_log_id']}"
        )
        receipt_file = workdir / "tax-records-receipt.json"
        records = bank_cli.run(
            "records",
            subject,
            "--category",
            "tax",
            "--purpose",
            "loan_application",
            "--grant",
            str(grant_id),
            "--receipt-out",
            str(receipt_file),
        )
        say(
            f"tax records under grant #{grant_id}: {len(records['records'])}; access-log entry "
            f"#{records['receipt']['access_log_id']}, checked at block "
            f"{records['receipt']['checked_block']}, receipt saved to {receipt_file.name}"
        )
        check(
            "granted records served with a signed access receipt",
            records["receipt"]["grant_id"] == grant_id and "signed_receipt" in records,
        )
        verdict = bank_cli.run(
            "verify",
            subject,
            "--predicate",
            "no_tax_arrears_months",
            "--arg",
            "24",
            "--purpose",
            "loan_application",
            "--grant",
            str(grant_id),
        )
        say(
            f"核验 no_tax_arrears_months(24) = {verdict['result']} "
            "(only the boolean left the platform)"
        )
        check(
            "verification answered with a signed receipt",
            verdict["receipt"]["grant_id"] == grant_id,
        )
        try:
            bank.records(
                subject, category="judicial", purpose="loan_application", grant_id=grant_id
            )
            check("a category outside the grant is refused", False)
        except LedgerError as outside:
            check(f"a category outside the grant is refused ({outside.code})", True)

        step(7, "The enterprise sees its access log, each entry proven against an anchored root")
        operator.anchor_access_log()
        verified = bank_cli.run("receipt", "verify", str(receipt_file))
        say(
            "the bank's saved receipt: "
            + ", ".join(f"{s['name']} {'ok' if s['ok'] else s['ok']}" for s in verified["steps"])
        )
        check(
            "the bank verifies its receipt: platform signature, log entry, anchored root, "
            "grant usable at the checked block",
            verified["status"] == "verified",
        )
        entries = wallet.run("access-log")
        bank_reads = [e for e in entries if e["actor"] == bank_key.address]
        # The wallet checked each leaf and proof up to its root; the root's anchor is checked
        # here against the chain itself (the wallet would do it with --chain-url on a node).
        on_chain = [
            e
            for e in bank_reads
            if e["proof"] == "verified"
            and (anchor := stack.context.ledger.anchor_of(bytes.fromhex(e["root"][2:])))
            and anchor.kind.name == "ACCESS_LOG"
        ]
        for entry in bank_reads:
            say(
                f"#{entry['id']} {entry['at']} {entry['action']} {entry['category'] or ''} "
                f"grant {entry['grant_id']} {entry['decision']}: proof {entry['proof']}"
            )
        check(
            f"the bank's {len(bank_reads)} reads are in the enterprise's access log, each "
            "proven against a root anchored on chain",
            len(on_chain) == len(bank_reads) >= 3,
        )

        step(8, "The enterprise objects to a record; the bank sees it flagged")
        mine = wallet.run("my-data", "--category", "tax")
        disputed_uid = mine["records"][0]["record_uid"]
        wallet.run("object", disputed_uid, "--reason", "This period was paid on time.", "--yes")
        flagged = wait_until(
            lambda: [
                r
                for r in bank.records(
                    subject, category="tax", purpose="loan_application", grant_id=grant_id
                ).records
                if r.disputed
            ],
            "the objection to reach the replica",
        )
        check(f"the bank sees {len(flagged)} record flagged as under objection", len(flagged) == 1)

        step(9, "The enterprise revokes the grant; the bank is refused")
        wallet.run("revoke", str(grant_id), "--yes")

        def refusal_code() -> str | None:
            try:
                bank.records(subject, category="tax", purpose="loan_application", grant_id=grant_id)
            except LedgerError as exc:
                return exc.code
            return None

        code: str = wait_until(refusal_code, "the revocation to reach the gate")
        check(f"the bank is refused after revocation ({code})", code == "revoked")
        state = next(g for g in wallet.run("grants") if int(g["grant_id"]) == grant_id)
        check("the wallet lists the grant as revoked", "revoked" in json.dumps(state).lower())

        step(10, "Post-loan monitoring: a judgment is ingested, the bank is alerted and reads it")
        post_loan = post_loan_alert(wallet, bank, provider, enterprise.uscc, bank_key.address)
        entries = wallet.run("access-log")
        seen = [
            e
            for e in entries
            if e["actor"] == bank_key.address and e["grant_id"] == post_loan
            and e["action"] in ("alert_delivered", "records")
        ]  # fmt: skip
        for entry in seen:
            say(f"#{entry['id']} {entry['action']} {entry['category'] or ''} {entry['decision']}")
        check(
            "the enterprise sees the alert and the bank's read in its access log",
            {e["action"] for e in seen} == {"alert_delivered", "records"},
        )

        step(11, "The regulator audits: every access and its grant state; no violations")
        operator.anchor_access_log()
        wait_until(lambda: stack.indexer.lag() == 0, "the indexer to catch up")
        audited = regulator.audit("access_audit", limit=500).result
        assert isinstance(audited, list)
        allowed = [r for r in audited if r["decision"] == "allowed"]
        table = Table("entry", "actor", "action", "decision", "grant", "block", "grant then")
        for row in audited[-8:]:
            table.add_row(
                str(row["entry_id"]),
                str(row["actor"])[:10] + "…",
                str(row["action"]),
                str(row["decision"]),
                str(row["grant_id"]),
                str(row["checked_block"]),
                str(row["recomputed"]),
            )
        console.print(table)
        violations = regulator.audit("violations").result
        check(
            f"{len(audited)} accesses audited, {len(allowed)} allowed, each consistent with "
            "its grant at the checked block",
            len(allowed) >= 3 and all(r["consistent"] for r in audited),
        )
        check("violations view is empty", violations == [])

        step(12, "Tamper verification: every record and root recomputed against the chain")
        anchorer = ChainAnchorer(stack.context.ledger, stack.context.relayer)
        report_v = verify_database(stack.engine, anchorer)
        say(f"{report_v.records} records in {report_v.batches} batches checked")
        check("tamper verification passes", report_v.clean)
        log_check = operator.verify_access_log()
        check(
            f"the access log's hash chain is intact ({log_check.entries_checked} entries)",
            log_check.clean,
        )
        financing_loop(bank, bank_cli, regulator, wallet, enterprise, workdir)
        generated_quarter(stack, settings, regulator, [bank_key.address])
    finally:
        for client in (operator, bank, provider, regulator):
            client.close()
        server.should_exit = True
        time.sleep(0.5)
        stack.close()

    console.rule("[bold]Summary")
    for label, ok in checks:
        console.print(f"  {'[green]✓' if ok else '[red]✗'} {label}[/]")
    failed = [label for label, ok in checks if not ok]
    console.print(
        f"\n{len(checks) - len(failed)}/{len(checks)} checks held in "
        f"{time.monotonic() - started:.0f} s. State kept in {workdir}"
    )
    if not failed:
        for home in ("wallet", "bank"):  # the throwaway keys
            shutil.rmtree(workdir / home, ignore_errors=True)
    return 1 if failed else 0


def financing_loop(
    bank: LedgerClient,
    bank_cli: Terminal,
    regulator: LedgerClient,
    wallet: Terminal,
    enterprise: Any,
    workdir: Path,
) -> None:
    """Step 12: a loan product, one-confirmation application, the bank's decision, the KPI."""
    step(12, "The bank publishes a loan product; the enterprise applies; the KPI moves")
    before = regulator.call("GET", "/v1/audit/kpis")["totals"]
    now = int(time.time())
    product_file = workdir / "product.json"
    product_file.write_text(
        json.dumps(
            {"name": "豫信贷·小微信用贷", "kind": "pure_credit", "amount_min": 100_000,
             "amount_max": 3_000_000, "term_min_months": 6, "term_max_months": 36,
             "rate_min_bp": 350, "rate_max_bp": 600, "regions": [enterprise.division],
             "industries": [enterprise.section], "categories": ["tax", "social_insurance"],
             "valid_from": now - 86_400, "valid_until": now + 90 * 86_400},
            ensure_ascii=False,
        )
    )  # fmt: skip
    product = bank_cli.run("publish-product", str(product_file))
    say(f"product #{product['id']} {product['name']} by {product['institution_name']}")
    listed = wallet.run("products", "--region", enterprise.division)
    check(
        "the enterprise finds the product for its region",
        [p["id"] for p in listed] == [product["id"]],
    )
    applied = wallet.run(
        "apply", str(product["id"]), "--amount", "500000", "--term", "12",
        "--region", enterprise.division, "--industry", enterprise.section, "--yes",
    )  # fmt: skip
    say(
        f"application #{applied['id']} filed under grant #{applied['grant_id']} "
        "(one confirmation signed both)"
    )
    records = wait_until(
        lambda: bank.records(
            enterprise.uscc, category="tax", purpose="loan_application",
            grant_id=int(applied["grant_id"]),
        ),
        "the application's grant to reach the replica",
    )  # fmt: skip
    check("the bank reads the application's records under its grant", bool(records.records))
    decided = bank_cli.run(
        "decide", str(applied["id"]), "--approve", "--amount", "450000", "--rate-bp", "395",
        "--term", "12", "--pure-credit", "--first-loan",
    )  # fmt: skip
    loan = wallet.run("loan", str(decided["loan_id"]))
    say(f"approved: loan #{loan['id']}, {loan['amount']:,} yuan, anchored: {loan['anchored']}")
    mine = wallet.run("applications")
    check("the enterprise sees its application approved", mine[-1]["status"] == "approved")
    after = regulator.call("GET", "/v1/audit/kpis")["totals"]
    say(
        f"KPI credit loans {before['credit_loans']} -> {after['credit_loans']}, amount "
        f"{after['credit_loan_amount']:,} yuan, first loans {after['first_loans']}, share of "
        f"covered enterprises with a loan {after['share_with_loan']}"
    )
    check("the credit-loan KPI moved by one", after["credit_loans"] == before["credit_loans"] + 1)


def generated_quarter(
    stack: EmbeddedStack, settings: Settings, regulator: LedgerClient, banks: list[str]
) -> None:
    """Step 13: a generated quarter of applications and loans; the KPIs by prefecture."""
    step(13, "A generated quarter of loan applications; the regulator's KPIs by prefecture")
    enterprises = [
        (subject_id(e.uscc, settings.pseudonym_key_bytes), e)
        for e in iter_enterprises(ENTERPRISES, SEED)
    ]
    now = int(time.time())
    generated = synth_financing.generate(
        enterprises, banks, start=now - 90 * 86_400, days=90, count=400, seed=SEED
    )
    keyring = stack.context.keyrings.current()
    with stack.engine.begin() as conn:
        synth_financing.store(conn, keyring, generated, now)
    kpis = regulator.call("GET", "/v1/audit/kpis", params={"group_by": "region"})
    table = Table(
        "prefecture", "loans", "amount (yuan)", "pure credit", "first loans", "median days"
    )
    for row in sorted(kpis["rows"], key=lambda r: -r["credit_loans"])[:6]:
        table.add_row(
            f"{row['name']} {row['key']}", str(row["credit_loans"]),
            f"{row['credit_loan_amount']:,}", str(row["pure_credit_share"]),
            str(row["first_loans"]), str(row["median_days_to_decision"]),
        )  # fmt: skip
    console.print(table)
    totals = kpis["totals"]
    say(
        f"{totals['applications']} applications, {totals['credit_loans']} credit loans, "
        f"{totals['enterprises_with_loan']} of {totals['enterprises_covered']} covered "
        f"enterprises with a loan (share {totals['share_with_loan']})"
    )
    declined = sum(g.status == "declined" for g in generated) / len(generated)
    check(
        f"generated proportions are realistic ({declined:.0%} declined, median "
        f"{totals['median_days_to_decision']} days to decide)",
        0.15 < declined < 0.35 and (totals["median_days_to_decision"] or 99) < 7,
    )


if __name__ == "__main__":
    raise SystemExit(main())
