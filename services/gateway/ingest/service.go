package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Deps are what the ingest service is built from. Audit and Erased may be
// nil: without an auditor deletions are refused, without an erased lookup a
// Redis outage lets re-sent erased ids through to Kafka (the read models
// still refuse them).
type Deps struct {
	Producer *Producer
	Markers  MarkerStore
	Limiter  Limiter
	Audit    DeleteAuditor
	Erased   ErasedLookup
	// Quota counts tenants' monthly events; nil: quotas are not enforced.
	Quota   QuotaStore
	Metrics *Metrics
	Logger  *slog.Logger
}

// Service is the ingest path without HTTP: rate limit, dedup against the
// markers, produce, save markers after the acks; and tombstones.
type Service struct {
	cfg   Config
	topic string
	Deps
	now   func() time.Time
	redis *redisGate
	// Set when the limiter can take the request's Trip (marker lookup,
	// nonce claim) along in its own Redis call (RedisLimiter with
	// RedisMarkers): one round trip and one wait for all.
	carry   tripCarrier
	prepare tripPreparer
}

// tripCarrier is a Limiter that sends a request's Trip with its decision,
// and gives back what a refused request took.
type tripCarrier interface {
	AllowNWith(ctx context.Context, tenant string, ratePerSec, burst, n int, trip *Trip) (Decision, error)
	Refund(ctx context.Context, tenant string, ratePerSec, burst, n int) error
}

// tripPreparer is a MarkerStore that prepares a lookup for a Trip, and
// sends a Trip on its own.
type tripPreparer interface {
	Prepare(ctx context.Context, tenant string, ids []string) *PendingLookup
	Send(ctx context.Context, trip *Trip) error
}

// NewService returns the service producing to topic.
func NewService(cfg Config, topic string, d Deps) *Service {
	s := &Service{cfg: cfg, topic: topic, Deps: d, now: time.Now,
		redis: &redisGate{timeout: cfg.RedisTimeout, cooldown: cfg.RedisCooldown}}
	c, okC := d.Limiter.(tripCarrier)
	p, okP := d.Markers.(tripPreparer)
	if okC && okP {
		s.carry, s.prepare = c, p
	}
	return s
}

// Admission is the rate limiter's verdict on a request.
type Admission int

// The verdicts: go on, refused by the limit, refused because the limiter
// is unavailable and fails closed.
const (
	Admitted Admission = iota
	Limited
	LimiterDown
)

// Outcome is what became of a request's events.
type Outcome struct {
	Admission Admission
	Decision  *Decision // the tenant's bucket after the request; nil when unknown
	Results   []Result  // in request order; nil when not admitted
	// Busy: the producer's buffer is full, nothing was produced.
	Busy bool
	// Unavailable: Kafka did not acknowledge some events (code unavailable).
	Unavailable bool
	// NonceFresh: the request's nonce (if any) was new. When it was not,
	// or NonceErr says why it is unknown, nothing was produced and only
	// these two fields are set.
	NonceFresh bool
	NonceErr   error
	// Quota is the tenant's monthly quota after the request; nil when it
	// has none (or it was not counted).
	Quota *QuotaState
}

// Ingest rate-limits, dedups, produces and marks a decoded request of
// tenant received at now; nonce (nil: none) is its signature's nonce, left
// by the gate, claimed first. requestID only labels logs. The marker lookup
// and the nonce claim ride along with the rate-limit decision when the
// stores allow it (the lookup's answer is not used when the request is
// refused).
func (s *Service) Ingest(ctx context.Context, tenant tenancy.Tenant, items []decode.Item, now time.Time, requestID string, nonce *Nonce) Outcome {
	var out Outcome
	results := make([]Result, len(items))
	cand, times := timePolicy(tenant, items, candidates(items, results), results, now)
	ids := idsOf(items, cand)
	trip := s.trip(ctx, tenant.ID, ids, nonce)
	out.Admission, out.Decision = s.admit(ctx, tenant, len(items), trip, requestID)
	if nonce != nil {
		out.NonceFresh, out.NonceErr = s.claimed(ctx, tenant, len(items), out, trip, nonce)
		if !out.NonceFresh || out.NonceErr != nil {
			return Outcome{NonceFresh: out.NonceFresh, NonceErr: out.NonceErr}
		}
	}
	if out.Admission != Admitted {
		return out
	}
	var lookup *PendingLookup
	if trip != nil {
		lookup = trip.Lookup
	}
	out.Results = results
	for _, i := range cand {
		stamp(&items[i].Event, tenant.ID, now, items[i].TimeSet)
	}
	setTimes(items, times) // after the content hash: it covers the time sent
	toProduce := s.dedup(ctx, tenant.ID, items, cand, ids, lookup, out.Results, requestID)
	if tenant.MonthlyQuota > 0 && s.Quota != nil && len(toProduce) > 0 {
		toProduce, out.Quota = s.reserve(ctx, tenant, toProduce, out.Results, now, requestID)
	}
	if len(toProduce) > 0 {
		out.Busy, out.Unavailable = s.produce(ctx, tenant.ID, items, toProduce, out.Results, requestID)
		if out.Quota != nil {
			s.release(ctx, tenant.ID, out.Quota, toProduce, out.Results, out.Busy, requestID)
		}
	}
	return out
}

// Peek is the tenant's bucket now, taking nothing (nil: no limit or unknown).
func (s *Service) Peek(ctx context.Context, t tenancy.Tenant) *Decision {
	if t.RateLimitPerSec <= 0 {
		return nil
	}
	var d Decision
	if err := s.redis.do(ctx, func(ctx context.Context) (err error) {
		d, err = s.Limiter.AllowN(ctx, t.ID, t.RateLimitPerSec, burstOf(t), 0)
		return err
	}); err != nil {
		return nil
	}
	return &d
}

// trip is what rides the request's round trip: the lookup of ids and the
// claim of nonce, when the stores are Redis (nil: nothing rides).
func (s *Service) trip(ctx context.Context, tenant string, ids []string, nonce *Nonce) *Trip {
	if s.carry == nil {
		return nil
	}
	var t Trip
	if len(ids) > 0 {
		t.Lookup = s.prepare.Prepare(ctx, tenant, ids)
	}
	if nonce != nil && nonce.RedisKey != "" {
		t.Nonce = PrepareNonce(ctx, nonce)
	}
	if t.empty() {
		return nil
	}
	return &t
}

// admit takes n units from the tenant's bucket, sending trip along (a
// tenant without a limit sends it alone). When Redis fails, the request
// goes on (fail-open, no decision) or is refused (fail-closed).
func (s *Service) admit(ctx context.Context, t tenancy.Tenant, n int, trip *Trip, requestID string) (Admission, *Decision) {
	timeout := s.redis.timeout
	if trip != nil && trip.Nonce != nil {
		// A nonce cannot be skipped like a marker: a request that must
		// claim one waits as long as its claim may take.
		timeout = max(timeout, trip.Nonce.timeout)
	}
	if t.RateLimitPerSec <= 0 { // no limit configured for this tenant
		if trip != nil {
			_ = s.redis.doWithin(ctx, timeout, func(ctx context.Context) error { return s.prepare.Send(ctx, trip) })
		}
		return Admitted, nil
	}
	var d Decision
	err := s.redis.doWithin(ctx, timeout, func(ctx context.Context) (err error) {
		if trip != nil {
			d, err = s.carry.AllowNWith(ctx, t.ID, t.RateLimitPerSec, burstOf(t), n, trip)
		} else {
			d, err = s.Limiter.AllowN(ctx, t.ID, t.RateLimitPerSec, burstOf(t), n)
		}
		return err
	})
	if err != nil {
		s.Metrics.RedisErrors.WithLabelValues("rate_limit").Inc()
		s.Metrics.RateLimit.WithLabelValues("error").Inc()
		if s.cfg.RateLimitFailClosed {
			return LimiterDown, nil
		}
		s.Logger.Warn("rate limiter unavailable; letting the request through", "err", err, "tenant", t.ID, "request_id", requestID)
		return Admitted, nil
	}
	if d.Allowed {
		s.Metrics.RateLimit.WithLabelValues("allowed").Inc()
		return Admitted, &d
	}
	s.Metrics.RateLimit.WithLabelValues("limited").Inc()
	return Limited, &d
}

// claimed is the outcome of the claim of nonce: its answer from the trip,
// or, when no trip carried it to Redis (other stores, or Redis skipped
// while cooling off), the gate's claim on its own. A replay gives back the
// n units its admission took.
func (s *Service) claimed(ctx context.Context, t tenancy.Tenant, n int, out Outcome, trip *Trip, nonce *Nonce) (bool, error) {
	var fresh bool
	var err error
	if trip != nil && trip.Nonce != nil && trip.Nonce.sent() {
		fresh, err = trip.Nonce.Fresh()
	} else {
		fresh, err = nonce.Gate.Claim(ctx, nonce)
	}
	if err == nil && !fresh && out.Admission == Admitted && out.Decision != nil && s.carry != nil {
		if rerr := s.redis.do(ctx, func(ctx context.Context) error {
			return s.carry.Refund(ctx, t.ID, t.RateLimitPerSec, burstOf(t), n)
		}); rerr != nil {
			s.Logger.Warn("rate limit refund of a replayed request failed", "err", rerr, "tenant", t.ID)
		}
	}
	return fresh, err
}

func burstOf(t tenancy.Tenant) int {
	if t.RateLimitBurst > 0 {
		return t.RateLimitBurst
	}
	return t.RateLimitPerSec
}

// candidates fills results with each item's id and its rejection, if any,
// and returns the valid events not repeated earlier in the request.
func candidates(items []decode.Item, results []Result) []int {
	seen := make(map[string]int, len(items))
	cand := make([]int, 0, len(items))
	for i := range items {
		it := &items[i]
		results[i] = Result{Index: i, ID: it.ID}
		if it.Reject != nil {
			results[i].reject(it.Reject.Code, it.Reject.Message)
			results[i].Pointer, results[i].SchemaVersion = it.Reject.Pointer, it.Reject.SchemaVersion
			continue
		}
		if it.Warnings != nil {
			results[i].Warnings = warningsOf(it.Warnings)
		}
		if first, dup := seen[it.Event.ID]; dup {
			results[i].reject(CodeDuplicateInRequest, fmt.Sprintf("id repeats event %d of this request", first))
			continue
		}
		seen[it.Event.ID] = i
		cand = append(cand, i)
	}
	return cand
}

func warningsOf(rs []decode.Reject) []Warning {
	ws := make([]Warning, len(rs))
	for i, r := range rs {
		ws[i] = Warning{Code: r.Code, Message: r.Message, Pointer: r.Pointer, SchemaVersion: r.SchemaVersion}
	}
	return ws
}

// idsOf is the event id of each candidate.
func idsOf(items []decode.Item, cand []int) []string {
	ids := make([]string, len(cand))
	for k, i := range cand {
		ids[k] = items[i].Event.ID
	}
	return ids
}

// stamp sets what the gateway adds to an event before storing it.
func stamp(ev *schemas.Event, tenant string, now time.Time, timeSet bool) {
	ev.TenantID = tenant
	ev.ReceivedAt = now
	data := []byte(ev.Data)
	if ev.DataBase64 != "" {
		data = []byte("b64:" + ev.DataBase64) // cannot collide with JSON data
	}
	ev.ContentHash = schemas.ContentHash(ev.Type, ev.Source, ev.Subject, ev.Time, timeSet, ev.DataContentType, data)
}

// dedup answers the candidates Redis holds a marker for (duplicate, erased
// or conflict) and returns the others: the answer of lookup, sent with the
// rate limit, or else of one round trip now. When Redis fails every
// candidate goes on, minus those PostgreSQL holds as erased.
func (s *Service) dedup(ctx context.Context, tenant string, items []decode.Item, cand []int, ids []string, lookup *PendingLookup, results []Result, requestID string) []int {
	if len(cand) == 0 {
		return nil
	}
	var ms []markers.Marker
	var found []bool
	var err error
	if lookup != nil {
		ms, found, err = lookup.Result()
	} else {
		err = s.redis.do(ctx, func(ctx context.Context) (err error) {
			ms, found, err = s.Markers.Lookup(ctx, tenant, ids)
			return err
		})
	}
	if err != nil {
		s.Metrics.RedisErrors.WithLabelValues("marker_lookup").Inc()
		s.Logger.Warn("marker lookup failed; producing without dedup", "err", err, "tenant", tenant, "request_id", requestID)
		return s.dropErased(ctx, tenant, items, cand, results, requestID)
	}
	keep := cand[:0:0]
	for k, i := range cand {
		if !found[k] {
			keep = append(keep, i)
			continue
		}
		results[i].repeat(ms[k], items[i].Event.ContentHash)
	}
	return keep
}

// repeat answers an event whose id has marker m: duplicate when the content
// is the same, erased when the id was erased, conflict otherwise.
func (r *Result) repeat(m markers.Marker, contentHash string) {
	switch m.ContentHash {
	case markers.Erased:
		r.Status, r.Code, r.Message = StatusDuplicate, CodeErased, "this id was erased; the event is not stored again"
	case contentHash:
		r.Status = StatusDuplicate
		r.IngestID = m.IngestID
		r.Partition, r.Offset = &m.Partition, &m.Offset
	default:
		r.reject(CodeConflict, "an event with this id and different content was already accepted")
	}
}

// produce sends the events toProduce and waits for their acks, then saves
// their markers. busy: nothing was produced (buffer full); unavailable:
// some events were not acknowledged.
func (s *Service) produce(ctx context.Context, tenant string, items []decode.Item, toProduce []int, results []Result, requestID string) (busy, unavailable bool) {
	recs := make([]*kgo.Record, len(toProduce))
	for k, i := range toProduce {
		ev := &items[i].Event
		ev.IngestID = ulid.Make().String()
		recs[k] = schemas.EventRecord(s.topic, ev)
	}
	acks, err := s.Producer.ProduceAll(ctx, recs)
	if err != nil {
		return true, false // ErrBusy, the only error ProduceAll returns
	}
	ids := make([]string, 0, len(toProduce))
	ms := make([]markers.Marker, 0, len(toProduce))
	ackedAt := s.now()
	for k, i := range toProduce {
		a := acks[k]
		if a.Err != nil {
			unavailable = true
			results[i].reject(CodeUnavailable, "Kafka did not acknowledge the event in time; it was not stored, retry")
			continue
		}
		ev := &items[i].Event
		part, off := a.Partition, a.Offset
		results[i].Status, results[i].IngestID = StatusAccepted, ev.IngestID
		results[i].Partition, results[i].Offset = &part, &off
		ids = append(ids, ev.ID)
		ms = append(ms, markers.Marker{ContentHash: ev.ContentHash, AcceptedAt: ackedAt, Partition: part, Offset: off, IngestID: ev.IngestID})
	}
	if unavailable {
		s.Logger.Warn("produce failed", "err", firstErr(acks), "tenant", tenant, "request_id", requestID)
	}
	s.saveMarkers(ctx, tenant, ids, ms, requestID)
	return false, unavailable
}

// saveMarkers writes the markers of acknowledged events: only after the
// acks, so a marker never announces an event Kafka does not hold. Redis
// trouble is logged and counted: the read models still dedup.
func (s *Service) saveMarkers(ctx context.Context, tenant string, ids []string, ms []markers.Marker, requestID string) {
	if len(ids) == 0 {
		return
	}
	if err := s.redis.do(ctx, func(ctx context.Context) error { return s.Markers.Save(ctx, tenant, ids, ms) }); err != nil {
		s.Metrics.RedisErrors.WithLabelValues("marker_save").Inc()
		s.Logger.Warn("marker save failed", "err", err, "tenant", tenant, "request_id", requestID)
	}
}

func firstErr(acks []Ack) error {
	for _, a := range acks {
		if a.Err != nil {
			return a.Err
		}
	}
	return nil
}
