package quarantine

import (
	"context"
	"net/http"
	"time"

	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Store is the read model as the replay and the list use it (*PGStore).
type Store interface {
	List(ctx context.Context, tenant string, f Filter) ([]Entry, error)
	MarkReplayed(ctx context.Context, tenant, id, ingestID string) (bool, error)
	UpdateReason(ctx context.Context, tenant, id, code, msg, pointer string, version int) error
}

// Ingester is the gateway's ingest service (*ingest.Service).
type Ingester interface {
	Ingest(ctx context.Context, tenant tenancy.Tenant, items []decode.Item, now time.Time, requestID string, nonce *ingest.Nonce) ingest.Outcome
}

// Validator is the tenant's current schema verdict (*schemacheck.Checker).
type Validator interface {
	Validate(ctx context.Context, tenant string, it *decode.Item) *decode.Reject
}

// Replayer re-validates quarantined events and ingests those that pass.
type Replayer struct {
	store   Store
	decoder *decode.Validator
	schemas Validator
	ingest  Ingester
	limits  decode.Limits
}

// NewReplayer returns a replayer decoding originals within limits.
func NewReplayer(store Store, decoder *decode.Validator, schemas Validator, in Ingester, limits decode.Limits) *Replayer {
	return &Replayer{store: store, decoder: decoder, schemas: schemas, ingest: in, limits: limits}
}

// ReplayResult is one replayed entry's outcome.
type ReplayResult struct {
	QuarantineID string `json:"quarantine_id"`
	ID           string `json:"id"`
	Status       string `json:"status"` // accepted, duplicate, rejected
	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
	Pointer      string `json:"pointer,omitempty"`
	IngestID     string `json:"ingest_id,omitempty"`
}

// ReplayReport is the answer of a replay: counts and one result per entry.
type ReplayReport struct {
	Selected  int            `json:"selected"`
	Accepted  int            `json:"accepted"`
	Duplicate int            `json:"duplicate"`
	Rejected  int            `json:"rejected"`
	Results   []ReplayResult `json:"results"`
}

// ReplayError is a replay the ingest service refused as a whole.
type ReplayError struct {
	Status  int
	Code    string
	Message string
}

func (e *ReplayError) Error() string { return e.Code + ": " + e.Message }

// Replay selects the tenant's still-quarantined entries matching f,
// re-validates each (envelope and current schema, whatever the mode) and
// ingests those that pass; entries stored (accepted, or duplicates of an
// event already stored) are marked replayed, the others keep their place
// with the new reason.
func (r *Replayer) Replay(ctx context.Context, tenant tenancy.Tenant, f Filter, requestID string) (ReplayReport, error) {
	f.State = StateQuarantined
	entries, err := r.store.List(ctx, tenant.ID, f)
	if err != nil {
		return ReplayReport{}, err
	}
	rep := ReplayReport{Selected: len(entries), Results: make([]ReplayResult, len(entries))}
	now := time.Now().UTC()
	var items []decode.Item
	var pos []int // entry index of each item
	for k := range entries {
		e := &entries[k]
		rep.Results[k] = ReplayResult{QuarantineID: e.QuarantineID, ID: e.ID}
		it, rej := r.revalidate(ctx, tenant.ID, e, now)
		if rej != nil {
			rep.Results[k].reject(rej)
			if err := r.store.UpdateReason(ctx, tenant.ID, e.QuarantineID, rej.Code, rej.Message, rej.Pointer, rej.SchemaVersion); err != nil {
				return rep, err
			}
			continue
		}
		items, pos = append(items, it), append(pos, k)
	}
	if len(items) > 0 {
		if err := r.ingestAll(ctx, tenant, entries, items, pos, &rep, now, requestID); err != nil {
			return rep, err
		}
	}
	for _, res := range rep.Results {
		switch res.Status {
		case ingest.StatusAccepted:
			rep.Accepted++
		case ingest.StatusDuplicate:
			rep.Duplicate++
		default:
			rep.Rejected++
		}
	}
	return rep, nil
}

// revalidate decodes an entry's original bytes as one event and checks it
// against the tenant's current schema.
func (r *Replayer) revalidate(ctx context.Context, tenant string, e *Entry, now time.Time) (decode.Item, *decode.Reject) {
	items, aerr := r.decoder.Decode(decode.FormatStructured, http.Header{}, e.Original, r.limits, now)
	if aerr != nil {
		return decode.Item{}, &decode.Reject{Code: aerr.Code, Message: aerr.Message}
	}
	it := items[0]
	if it.Reject != nil {
		return it, it.Reject
	}
	if rej := r.schemas.Validate(ctx, tenant, &it); rej != nil {
		return it, rej
	}
	return it, nil
}

// ingestAll ingests the passing items in one request of the ingest service
// and records each outcome.
func (r *Replayer) ingestAll(ctx context.Context, tenant tenancy.Tenant, entries []Entry, items []decode.Item, pos []int, rep *ReplayReport, now time.Time, requestID string) error {
	out := r.ingest.Ingest(ctx, tenant, items, now, requestID, nil) // a signed replay's nonce was claimed by the gate
	switch {
	case out.Admission == ingest.Limited:
		return &ReplayError{Status: http.StatusTooManyRequests, Code: ingest.CodeRateLimited, Message: "the tenant's rate limit is exhausted; replay fewer events or retry later"}
	case out.Admission == ingest.LimiterDown || out.Busy:
		return &ReplayError{Status: http.StatusServiceUnavailable, Code: ingest.CodeServiceUnavailable, Message: "the gateway cannot ingest now; retry shortly"}
	}
	for j, res := range out.Results {
		k := pos[j]
		rr := &rep.Results[k]
		rr.Status, rr.Code, rr.Message, rr.IngestID = res.Status, res.Code, res.Message, res.IngestID
		if res.Code == ingest.CodeDuplicateInRequest { // the same event quarantined twice: stored once, by the first
			rr.Status, rr.Code = ingest.StatusDuplicate, ""
		}
		if rr.Status == ingest.StatusRejected {
			if res.Code != ingest.CodeUnavailable {
				if err := r.store.UpdateReason(ctx, tenant.ID, entries[k].QuarantineID, res.Code, res.Message, "", 0); err != nil {
					return err
				}
			}
			continue
		}
		if res.Status == ingest.StatusDuplicate && res.Code == ingest.CodeErased {
			rr.Status, rr.Code = ingest.StatusRejected, ingest.CodeErased
			continue
		}
		if _, err := r.store.MarkReplayed(ctx, tenant.ID, entries[k].QuarantineID, res.IngestID); err != nil {
			return err
		}
	}
	return nil
}

func (rr *ReplayResult) reject(rej *decode.Reject) {
	rr.Status, rr.Code, rr.Message, rr.Pointer = ingest.StatusRejected, rej.Code, rej.Message, rej.Pointer
}
