package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/oklog/ulid/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
)

// DeleteAuditor records DELETE /v1/events/{id} in the audit log before the
// tombstone is produced (erasure.PGStore).
type DeleteAuditor interface {
	RecordDelete(ctx context.Context, tenant, eventID, erasureID, actor string) error
}

// ErasedLookup finds which ids of tenant the PostgreSQL read model holds as
// deleted (erasure.PGStore): the fallback for erasure markers while Redis is
// unavailable.
type ErasedLookup interface {
	ErasedIDs(ctx context.Context, tenant string, ids []string) (map[string]bool, error)
}

// Errors of Delete: the audit entry could not be written, or Kafka did not
// acknowledge the tombstone. Either way nothing is erased: retry.
var (
	ErrAudit        = errors.New("the deletion could not be recorded in the audit log")
	ErrNotAcked     = errors.New("no Kafka ack for the tombstone")
	errNoAuditor    = errors.New("no audit log configured")
	errTombstoneEnc = errors.New("tombstone encoding failed")
)

// Delete records the deletion of (tenant, id) by actor in the audit log,
// then produces its tombstone. Deleting twice produces two tombstones with
// the same key: the projector applies them idempotently.
func (s *Service) Delete(ctx context.Context, tenant, id, actor, requestID string) error {
	erasureID := ulid.Make().String()
	// The audit entry first: no tombstone is ever produced without one.
	err := errNoAuditor
	if s.Audit != nil {
		err = s.Audit.RecordDelete(ctx, tenant, id, erasureID, actor)
	}
	if err != nil {
		s.Logger.Warn("audit of a deletion failed", "err", err, "tenant", tenant, "request_id", requestID)
		return fmt.Errorf("%w: %w", ErrAudit, err)
	}
	ack, err := s.tombstones(ctx, tenant, []string{id}, erasureID)
	if err != nil {
		s.Logger.Warn("tombstone produce failed", "err", err, "tenant", tenant, "request_id", requestID)
		return err
	}
	s.saveErased(ctx, tenant, []string{id}, erasureID, ack, requestID)
	return nil
}

// Tombstones produces one tombstone per id of tenant, tagged with erasureID
// (the erasure worker's Tombstoner): the same record and key as Delete, so
// each lands on its event's partition after it. It returns nil only when
// Kafka acknowledged every one; then it writes the ids' erasure markers.
func (s *Service) Tombstones(ctx context.Context, tenant string, ids []string, erasureID string) error {
	ack, err := s.tombstones(ctx, tenant, ids, erasureID)
	if err != nil {
		return err
	}
	s.saveErased(ctx, tenant, ids, erasureID, ack, "")
	return nil
}

// tombstones produces the tombstones and returns the last one's ack.
func (s *Service) tombstones(ctx context.Context, tenant string, ids []string, erasureID string) (Ack, error) {
	now := s.now().UTC()
	recs := make([]*kgo.Record, len(ids))
	for i, id := range ids {
		r, err := schemas.TombstoneRecord(s.topic, &schemas.Tombstone{TenantID: tenant, ID: id, DeletedAt: now, ErasureID: erasureID})
		if err != nil {
			return Ack{}, fmt.Errorf("%w: %s: %w", errTombstoneEnc, id, err)
		}
		recs[i] = r
	}
	acks, err := s.Producer.ProduceAll(ctx, recs)
	if err == nil {
		err = firstErr(acks)
	}
	if err != nil {
		return Ack{}, fmt.Errorf("%w: %d tombstones: %w", ErrNotAcked, len(ids), err)
	}
	return acks[len(acks)-1], nil
}

// saveErased writes erasure markers for ids after their tombstones were
// acknowledged (ack: the tombstone's, or the last of a page's), so a re-sent
// event is answered duplicate without producing it. Redis trouble is logged
// and counted, never fatal: the read models still refuse the event.
func (s *Service) saveErased(ctx context.Context, tenant string, ids []string, erasureID string, ack Ack, requestID string) {
	m := markers.Marker{ContentHash: markers.Erased, AcceptedAt: s.now(), Partition: ack.Partition, Offset: ack.Offset, IngestID: erasureID}
	if err := s.redis.do(ctx, func(ctx context.Context) error { return s.Markers.SaveErased(ctx, tenant, ids, m) }); err != nil {
		s.Metrics.RedisErrors.WithLabelValues("erased_marker_save").Inc()
		s.Logger.Warn("erasure marker save failed", "err", err, "tenant", tenant, "request_id", requestID)
	}
}

// dropErased answers the candidates the read model holds as deleted as
// duplicates (code erased) and returns the others. Used only when the Redis
// lookup failed, so the hot path pays nothing for it; if PostgreSQL fails
// too, every candidate goes on (the read models refuse erased ids anyway).
func (s *Service) dropErased(ctx context.Context, tenant string, items []decode.Item, cand []int, results []Result, requestID string) []int {
	if s.Erased == nil {
		return cand
	}
	ids := make([]string, len(cand))
	for k, i := range cand {
		ids[k] = items[i].Event.ID
	}
	erased, err := s.Erased.ErasedIDs(ctx, tenant, ids)
	if err != nil {
		s.Logger.Warn("erased-id lookup in PostgreSQL failed; producing", "err", err, "tenant", tenant, "request_id", requestID)
		return cand
	}
	keep := cand[:0:0]
	for _, i := range cand {
		if erased[items[i].Event.ID] {
			results[i].repeat(markers.Marker{ContentHash: markers.Erased}, "")
			continue
		}
		keep = append(keep, i)
	}
	return keep
}
