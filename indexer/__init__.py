"""Chain events -> SQL replica of ledger state, and the regulators' audit views.

Modules, one job each:

- ``decode``: pure ``decode_log(log) -> EventRecord`` / ``encode_log`` from the committed ABI.
- ``tables``: SQLAlchemy tables (raw events, blocks, checkpoint, versioned state).
- ``projection``: applies events to the versioned state tables, and undoes them.
- ``store``: ``IndexStore`` (what the follower needs) and ``SqlIndexStore`` (one transaction
  per chunk); ``dump_state`` for comparing replicas.
- ``source``: what is read from a node (head, logs, block headers).
- ``follower``: ``Indexer`` (``run_once``, ``run_forever``, ``catch_up``, ``rebuild``, ``lag``,
  ``status``), reorg handling.
- ``replica``: ``ReplicaState``, the API's ``ChainState`` over the tables (now or at a block).
- ``audit_views``: the audit views as functions over a Session.
- ``log_recheck``: the access log re-checked once its verdicts are final (``recheck_pass``).
- ``cli``: ``ccl-indexer run | catch-up | status | rebuild | recheck | audit VIEW``.

Embedded use (the stack runs the follower in a thread)::

    indexer = Indexer.for_engine(w3, deployment, engine, settings)
    threading.Thread(target=indexer.run_forever,
                     args=(stop_event, settings.indexer_poll_interval_s)).start()
    state = ReplicaState(engine)
"""
