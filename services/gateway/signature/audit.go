package signature

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsestream/pulsestream/tenancy"
)

// ActionRefused is the audit action of a request refused for its signature.
const ActionRefused = "request.signature_refused"

// Auditor writes refusals to the audit log.
type Auditor interface {
	Write(ctx context.Context, e tenancy.AuditEntry) error
}

// PGAuditor writes audit entries to PostgreSQL's audit_log.
type PGAuditor struct{ pool *pgxpool.Pool }

// NewPGAuditor returns an Auditor over pool.
func NewPGAuditor(pool *pgxpool.Pool) *PGAuditor { return &PGAuditor{pool: pool} }

// Write implements Auditor.
func (a *PGAuditor) Write(ctx context.Context, e tenancy.AuditEntry) error {
	return pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error { return tenancy.WriteAudit(ctx, tx, e) })
}

// Audit bounds: refusals are rare in normal operation, but a client holding a
// key could send them as fast as the network allows. At most auditInFlight
// writes run at once; a refusal arriving while they are busy is not written
// (it is still logged and counted, and the drop is counted).
const (
	auditInFlight = 4
	auditTimeout  = 2 * time.Second
)
