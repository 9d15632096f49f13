-- +goose Up
-- DLQ re-drives (issue 21): one row per dead-letter record put back into the
-- event topic through the admin API. The primary key makes a re-drive happen
-- once: the row is inserted in the same transaction that waits for Kafka's
-- ack of the re-driven record, so a second re-drive of the same record (even
-- a concurrent one, which waits on the row lock) finds it and does nothing.
CREATE TABLE dlq_redrives (
    dlq_topic     text        NOT NULL,
    dlq_partition integer     NOT NULL,
    dlq_offset    bigint      NOT NULL,
    redriven_at   timestamptz NOT NULL DEFAULT now(),
    actor         text        NOT NULL,
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);

-- +goose Down
DROP TABLE dlq_redrives;
