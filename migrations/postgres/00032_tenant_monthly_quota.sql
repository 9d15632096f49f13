-- +goose Up
-- Monthly event quota (issue 20): at most monthly_quota accepted events per
-- UTC calendar month (0: no quota). quota_policy 'hard' refuses events past
-- it (429 quota_exceeded), 'soft' accepts them with a warning. The gateways
-- count accepted events in Redis (one counter per tenant and month, shared
-- by every replica); docs/operations.md, "Tenant policies", states the rules.
ALTER TABLE tenants
    ADD COLUMN monthly_quota bigint NOT NULL DEFAULT 0 CHECK (monthly_quota >= 0),
    ADD COLUMN quota_policy text NOT NULL DEFAULT 'hard' CHECK (quota_policy IN ('soft', 'hard'));

-- +goose Down
ALTER TABLE tenants DROP COLUMN quota_policy, DROP COLUMN monthly_quota;
