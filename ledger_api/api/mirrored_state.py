"""The API's chain state with the gate's decisions answered by the gate mirror.

``MirroredState`` is the cached state (``CachedChainState``) for every question but a
grant-checked read's decision inputs: those come from the process's ``GateMirror`` when it holds
them, and otherwise from one read of the replica (unpinned: the read's own checkpoint is the
position the decision names), which the mirror then holds (``indexer.gate_mirror``).
"""

from __future__ import annotations

from indexer.gate_mirror import GateMirror
from indexer.replica import ReplicaState
from ledger_api.chain.state import ChainState, DecisionInputs, DelegatingState


class MirroredState(DelegatingState):
    """``inner`` with decision inputs from ``mirror``, or read from ``replica`` and held."""

    def __init__(self, inner: ChainState, mirror: GateMirror, replica: ReplicaState) -> None:
        super().__init__(inner)
        self.mirror = mirror
        self.replica = replica

    def decision_inputs(self, address: str, subject_id: bytes, grant_id: int) -> DecisionInputs:
        held = self.mirror.lookup(address, subject_id, grant_id)
        if held is not None:
            return held
        epoch = self.mirror.epoch()
        inputs = self.replica.decision_inputs(address, subject_id, grant_id)
        self.mirror.remember(address, inputs, epoch)
        return inputs
