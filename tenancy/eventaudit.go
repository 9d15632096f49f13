package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Audit actions of erasure requests (written by the gateway, docs/erasure.md).
const (
	ActionEventDelete    = "event.delete"
	ActionErasureRequest = "erasure.request"
)

// WriteAudit writes e (its Actor, Action, TenantID, Target and Details) to the
// audit log inside tx, so a request and its audit entry commit together.
func WriteAudit(ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	return insertAudit(ctx, tx, audit{Actor: e.Actor, Action: e.Action, TenantID: e.TenantID, Target: e.Target, Details: e.Details})
}

// Actor is how the audit log names the caller p: "key:<prefix>".
func (p Principal) Actor() string { return "key:" + p.KeyPrefix }
