package dlq

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
)

// Erasure is one erasure by subject (table erasures, worked by the
// gateway's erasure worker) as the operator sees it: the subject itself is
// never shown (it is gone once the erasure is done), only its SHA-256.
type Erasure struct {
	ID            string     `json:"id"`
	TenantID      string     `json:"tenant_id"`
	State         string     `json:"state"`
	Erased        int64      `json:"erased"`
	SubjectSHA256 string     `json:"subject_sha256"`
	RequestedBy   string     `json:"requested_by"`
	RequestedAt   time.Time  `json:"requested_at"`
	StartedAt     *time.Time `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

// Erasures returns the newest limit erasures (of tenant, when not empty),
// newest first, and how many are not done.
func (d *DLQ) Erasures(ctx context.Context, tenant string, limit int) ([]Erasure, int, error) {
	rows, err := d.pool.Query(ctx, `SELECT id, tenant_id, state, erased, subject_sha256, requested_by, requested_at, started_at, finished_at
		FROM erasures WHERE $1 = '' OR tenant_id = $1 ORDER BY requested_at DESC, id DESC LIMIT $2`, tenant, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("read erasures: %w", err)
	}
	out := []Erasure{}
	var e Erasure
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.TenantID, &e.State, &e.Erased, &e.SubjectSHA256, &e.RequestedBy, &e.RequestedAt, &e.StartedAt, &e.FinishedAt}, func() error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read erasures: %w", err)
	}
	var open int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM erasures WHERE state <> 'done' AND ($1 = '' OR tenant_id = $1)`, tenant).Scan(&open); err != nil {
		return nil, 0, fmt.Errorf("count open erasures: %w", err)
	}
	return out, open, nil
}

// ErasuresAnswer is the body of GET /v1/admin/erasures.
type ErasuresAnswer struct {
	Open     int       `json:"open"`
	Erasures []Erasure `json:"erasures"`
}

func (h *handler) erasures(c *gin.Context) {
	limit, ok := limitParam(c)
	if !ok {
		return
	}
	es, open, err := h.d.Erasures(c.Request.Context(), c.Query("tenant"), limit)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, ErasuresAnswer{Open: open, Erasures: es})
}
