-- tradeward [cluster] schema, version 1: the shared decisions and the
-- nonce high-water marks (docs/cluster.md).

-- The agents that have joined a cluster (written by `cluster init` and at
-- an agent's start).
CREATE TABLE tradeward_agents (
    cluster     text        NOT NULL,
    agent       text        NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_start  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, agent)
);

-- Every decision that read shared state, allowed or denied, in commit
-- order per lock scope. `xid` is the writing transaction's id: the other
-- agents catch up with the rows of transactions that finished since they
-- last looked (see src/cluster/shared.rs).
CREATE TABLE tradeward_decisions (
    seq         bigserial   PRIMARY KEY,
    cluster     text        NOT NULL,
    agent       text        NOT NULL,
    xid         bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    ts_ms       bigint      NOT NULL,
    identity    text        NOT NULL,
    key_alias   text,
    allow       boolean     NOT NULL,
    rule        text        NOT NULL,
    nonce       bigint,
    -- The agent's own journal record of this decision: its seq and the
    -- hex SHA-256 of its line (the hash chain's link), set once that
    -- record is durable (the anchor); absent for denials.
    local_seq   bigint,
    local_hash  text,
    -- The decision as the journal records it (JSON).
    decision    text        NOT NULL
);
CREATE INDEX tradeward_decisions_xid ON tradeward_decisions (cluster, xid);
CREATE INDEX tradeward_decisions_ts ON tradeward_decisions (cluster, ts_ms);
CREATE INDEX tradeward_decisions_agent ON tradeward_decisions (cluster, agent, local_seq);

-- The highest Hyperliquid nonce any agent of the cluster assigned per key.
CREATE TABLE tradeward_nonces (
    cluster     text        NOT NULL,
    key_alias   text        NOT NULL,
    hwm         bigint      NOT NULL,
    agent       text        NOT NULL,
    PRIMARY KEY (cluster, key_alias)
);
