package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
)

// Tombstones produces one tombstone per id of tenant, tagged with erasureID
// (the erasure worker's Tombstoner): the same record and key as DELETE, so
// each lands on its event's partition after it. It returns nil only when
// Kafka acknowledged every one; then it writes the ids' erasure markers.
func (h *Handler) Tombstones(ctx context.Context, tenant string, ids []string, erasureID string) error {
	now := h.now().UTC()
	recs := make([]*kgo.Record, len(ids))
	for i, id := range ids {
		r, err := schemas.TombstoneRecord(h.topic, &schemas.Tombstone{TenantID: tenant, ID: id, DeletedAt: now, ErasureID: erasureID})
		if err != nil {
			return err
		}
		recs[i] = r
	}
	acks, err := h.producer.ProduceAll(ctx, recs)
	if err != nil {
		return fmt.Errorf("produce %d tombstones: %w", len(ids), err)
	}
	if err := firstErr(acks); err != nil {
		return fmt.Errorf("produce %d tombstones: %w", len(ids), err)
	}
	h.saveErased(ctx, tenant, ids, erasureID, acks[len(acks)-1], "")
	return nil
}

// DeleteAuditor records DELETE /v1/events/{id} in the audit log before the
// tombstone is produced (erasure.PGStore).
type DeleteAuditor interface {
	RecordDelete(ctx context.Context, tenant, eventID, erasureID, actor string) error
}

// SetDeleteAuditor makes every DELETE write its audit entry first; without
// one (tests of the router alone) DELETE answers 503.
func (h *Handler) SetDeleteAuditor(a DeleteAuditor) { h.audit = a }

var errNoAuditor = errors.New("no audit log configured")

// ErasedLookup finds which ids of tenant the PostgreSQL read model holds as
// deleted (erasure.PGStore): the fallback for erasure markers while Redis is
// unavailable.
type ErasedLookup interface {
	ErasedIDs(ctx context.Context, tenant string, ids []string) (map[string]bool, error)
}

// SetErasedLookup enables the fallback; without one, a Redis outage lets a
// re-sent erased id through to Kafka (the read models still refuse it).
func (h *Handler) SetErasedLookup(l ErasedLookup) { h.erased = l }

// dropErased answers the candidates the read model holds as deleted as
// duplicates (code erased) and returns the others. Used only when the Redis
// lookup failed, so the hot path pays nothing for it; if PostgreSQL fails
// too, every candidate goes on (the read models refuse erased ids anyway).
func (h *Handler) dropErased(ctx context.Context, tenant string, items []decode.Item, cand []int, results []Result, requestID string) []int {
	if h.erased == nil || len(cand) == 0 {
		return cand
	}
	ids := make([]string, len(cand))
	for k, i := range cand {
		ids[k] = items[i].Event.ID
	}
	erased, err := h.erased.ErasedIDs(ctx, tenant, ids)
	if err != nil {
		h.logger.Warn("erased-id lookup in PostgreSQL failed; producing", "err", err, "tenant", tenant, "request_id", requestID)
		return cand
	}
	keep := cand[:0:0]
	for _, i := range cand {
		if erased[items[i].Event.ID] {
			results[i].Status, results[i].Code, results[i].Message = StatusDuplicate, CodeErased, "this id was erased; the event is not stored again"
			continue
		}
		keep = append(keep, i)
	}
	return keep
}
