-- +goose Up
-- Erasure requests by subject (POST /v1/erasures), worked by the gateway's
-- erasure worker (services/gateway/erasure, docs/erasure.md). The row is the
-- worker's whole state, so a restarted or different gateway resumes it:
--   topic        the event topic the tombstones go to (only a gateway
--                producing to it claims the erasure)
--   state        pending -> running -> done
--   owner, lease_until  the worker holding it; a running erasure whose lease
--                passed is claimed again (the old owner's writes then fail)
--   after_id     keyset position: every live event of the subject with an
--                external_id <= after_id has had its tombstone produced
--   inflight_ids the page being produced now (already counted in erased);
--                produced again after a crash, so none is skipped
--   erased       tombstones produced, each event counted once
-- The subject is kept only while the erasure is not done (the worker needs
-- it); subject_sha256 stays to prove which subject was erased.
CREATE TABLE erasures (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL,
    topic          text NOT NULL,
    subject        text,
    subject_sha256 text NOT NULL,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done')),
    erased         bigint NOT NULL DEFAULT 0,
    after_id       text,
    inflight_ids   text[],
    owner          text,
    lease_until    timestamptz,
    requested_by   text NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    CHECK (state = 'done' OR subject IS NOT NULL)
);
CREATE INDEX erasures_open ON erasures (topic, requested_at) WHERE state <> 'done';

-- +goose Down
DROP TABLE erasures;
