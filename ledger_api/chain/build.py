"""Compile the Solidity sources into the committed artifacts (ABI + bytecode).

Only developers need this: the product loads the committed artifacts and needs no compiler.
py-solc-x drives solc-js (npm `solc`, pinned in package.json) through `scripts/solcjs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
SOLCJS = REPO / "scripts" / "solcjs"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TEST_ARTIFACTS = REPO / "tests" / "artifacts"

SOLC_VERSION = "0.8.37"
EVM_VERSION = "cancun"  # OpenZeppelin 5.x needs >= cancun (mcopy); pinned for reproducibility
# Deployed once, called millions of times: optimise for calls, as far as EIP-170 allows. From
# 30,000 runs up the contract (with governance, AccessControlDefaultAdminRules) exceeds the
# 24,576-byte limit on deployed code; at 10,000 it fits with room to spare.
OPTIMIZER_RUNS = 10_000

# Contract name -> output directory. Test-only contracts never ship in the package.
PRODUCT_CONTRACTS = {"ConsentLedger": ARTIFACTS, "Receivables": ARTIFACTS}
TEST_CONTRACTS = {"ContractWallet": TEST_ARTIFACTS}


def standard_json_input() -> dict[str, Any]:
    sources = sorted(p.relative_to(REPO).as_posix() for p in CONTRACTS.rglob("*.sol"))
    return {
        "language": "Solidity",
        "sources": {name: {"content": (REPO / name).read_text()} for name in sources},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": True,
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def compile_contracts() -> dict[str, dict[str, Any]]:
    """Compile every source; return artifact dicts keyed by contract name."""
    import solcx  # a developer-only dependency at run time: imported here on purpose

    output = solcx.compile_standard(standard_json_input(), solc_binary=str(SOLCJS))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(e["formattedMessage"] for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in sorted(output["contracts"].items()):
        for name, compiled in sorted(contracts.items()):
            if name not in PRODUCT_CONTRACTS and name not in TEST_CONTRACTS:
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {
                    "solc": SOLC_VERSION,
                    "evmVersion": EVM_VERSION,
                    "runs": OPTIMIZER_RUNS,
                },
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def artifact_path(name: str) -> Path:
    directory = PRODUCT_CONTRACTS.get(name) or TEST_CONTRACTS[name]
    return directory / f"{name}.json"


def write_artifacts() -> list[Path]:
    written = []
    for name, artifact in compile_contracts().items():
        path = artifact_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(artifact))
        written.append(path)
    return written
