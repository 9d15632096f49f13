-- +goose Up
-- Time policy (issue 20). An event whose time (after the sentat skew
-- correction) lies more than future_tolerance_seconds after its receive time
-- is clamped to the receive time and flagged (future_policy 'clamp'), or
-- rejected with code time_in_future ('reject'). docs/operations.md, "Tenant
-- policies", states the rules.
ALTER TABLE tenants
    ADD COLUMN future_tolerance_seconds integer NOT NULL DEFAULT 86400 CHECK (future_tolerance_seconds > 0),
    ADD COLUMN future_policy text NOT NULL DEFAULT 'clamp' CHECK (future_policy IN ('clamp', 'reject'));

-- +goose Down
ALTER TABLE tenants DROP COLUMN future_policy, DROP COLUMN future_tolerance_seconds;
