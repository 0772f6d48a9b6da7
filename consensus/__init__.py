"""consensus-toolkit: Raft and Multi-Paxos as pure cores, with a Trio runtime.

Layers (each imports only the ones below it): ``consensus.runtime`` >
``consensus.transport`` / ``consensus.storage`` > ``consensus.raft`` / ``consensus.paxos``
(pure cores) > ``consensus.types``, ``messages``, ``codec``, ``quorum``, ``core``.
"""

__version__ = "0.1.0"
