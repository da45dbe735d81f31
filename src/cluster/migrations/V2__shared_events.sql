-- tradeward [cluster] schema, version 2: operator events every agent of
-- the cluster applies (halts and resumes), announced with NOTIFY on the
-- channel "tradeward" (payload: the cluster's name).
CREATE TABLE tradeward_events (
    seq         bigserial   PRIMARY KEY,
    cluster     text        NOT NULL,
    agent       text        NOT NULL,
    xid         bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    ts_ms       bigint      NOT NULL,
    kind        text        NOT NULL,
    -- The event as the journal records it (JSON).
    event       text        NOT NULL
);
CREATE INDEX tradeward_events_xid ON tradeward_events (cluster, xid);
