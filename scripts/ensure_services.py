"""Make sure the services the integration tests use are up: PostgreSQL and the anvil binary.

Run by `make test` (and so by CI) before pytest. It only starts what this machine already has
(the PostgreSQL cluster) and checks what `make setup` installed (anvil from npm); it never
downloads anything itself.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANVIL = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def postgres_listening(host: str = "127.0.0.1", port: int = 5432) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def start_postgres() -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster"):
        sys.exit("error: PostgreSQL is not installed here (need a cluster under /etc/postgresql)")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
    )
    for _ in range(30):
        if postgres_listening():
            return
        time.sleep(1)
    sys.exit("error: PostgreSQL did not start on 127.0.0.1:5432")


def main() -> int:
    if not postgres_listening():
        print("starting PostgreSQL ...", file=sys.stderr)
        start_postgres()
    print("PostgreSQL: listening on 127.0.0.1:5432", file=sys.stderr)
    if not ANVIL.exists() and not glob.glob(str(ANVIL)):
        sys.exit(
            "error: anvil missing; run `make setup` (npm ci installs @foundry-rs/anvil-linux-amd64)"
        )
    version = subprocess.run([str(ANVIL), "--version"], capture_output=True, text=True, check=True)
    print(f"anvil: {version.stdout.splitlines()[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
