-- +goose Up
-- Request signing (issue 26, RFC 9421 hmac-sha256). Each key created from now
-- on gets a signing secret, stored only sealed: AES-256-GCM under the
-- signing-secret-key setting (never stored in PostgreSQL), the key's id as
-- associated data, so a sealed secret copied to another row does not open.
-- NULL: a key made before this migration or while no signing-secret-key was
-- set; it cannot sign. require_signature (per key, or for every key of a
-- tenant) makes the gateway refuse unsigned requests.
ALTER TABLE api_keys
    ADD COLUMN signing_secret    bytea,
    ADD COLUMN require_signature boolean NOT NULL DEFAULT false;
ALTER TABLE tenants
    ADD COLUMN require_signature boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE tenants DROP COLUMN require_signature;
ALTER TABLE api_keys DROP COLUMN require_signature, DROP COLUMN signing_secret;
