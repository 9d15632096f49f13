package ingest

import (
	"fmt"
	"time"

	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/tenancy"
)

// The time policy (docs/operations.md, "Tenant policies"). received_at, the
// gateway's clock, is authoritative; an event's time is the producer's
// claim, corrected and bounded here before anything is stored:
//
//  1. Skew: an event with a time and the CloudEvents extension sentat (the
//     producer's clock when it sent the request, RFC 3339) gets
//     time + (received_at − sentat), as Segment's and PostHog's SDKs expect.
//     A sentat that is not an RFC 3339 string rejects the event
//     (invalid_sentat).
//  2. Future: a (corrected) time more than the tenant's
//     future_tolerance_seconds after received_at is set to received_at and
//     flagged with the warning time_clamped (future_policy clamp), or the
//     event is rejected with time_in_future (reject).
//  3. Past: a (corrected) time more than the tenant's retention_days before
//     received_at is rejected with event_too_old.
//
// The content hash (duplicate or conflict) is over the time the producer
// sent, so a retry whose sentat changed is still a duplicate.
const (
	SentAtExtension = "sentat"

	CodeInvalidSentAt = "invalid_sentat"
	CodeTimeInFuture  = "time_in_future"
	CodeEventTooOld   = "event_too_old"
	WarnTimeClamped   = "time_clamped"
)

// timePolicy applies the policy to the candidates: it rejects in results
// those it refuses and returns the others, and the time each one gets when
// it differs from the one sent (nil when none does; else indexed like
// items). Times are applied after the content hash (setTimes).
func timePolicy(t tenancy.Tenant, items []decode.Item, cand []int, results []Result, now time.Time) ([]int, []time.Time) {
	var times []time.Time
	keep := cand[:0]
	for _, i := range cand {
		it := &items[i]
		if !it.TimeSet {
			keep = append(keep, i) // time is received_at: nothing to correct or bound
			continue
		}
		at, code, msg := eventTime(t, it, now)
		if code != "" {
			results[i].reject(code, msg)
			continue
		}
		if t.FutureToleranceSeconds > 0 && at.After(now.Add(time.Duration(t.FutureToleranceSeconds)*time.Second)) {
			if t.FuturePolicy == tenancy.FutureReject {
				results[i].reject(CodeTimeInFuture, fmt.Sprintf("time %s is more than %ds after the receive time %s",
					at.Format(time.RFC3339Nano), t.FutureToleranceSeconds, now.Format(time.RFC3339Nano)))
				continue
			}
			results[i].Warnings = append(results[i].Warnings, Warning{Code: WarnTimeClamped,
				Message: fmt.Sprintf("time %s was more than %ds after the receive time: stored at the receive time", at.Format(time.RFC3339Nano), t.FutureToleranceSeconds)})
			at = now
		}
		if !at.Equal(it.Event.Time) {
			if times == nil {
				times = make([]time.Time, len(items))
			}
			times[i] = at
		}
		keep = append(keep, i)
	}
	return keep, times
}

// eventTime is the item's time corrected by its sentat, or the code and
// message rejecting it.
func eventTime(t tenancy.Tenant, it *decode.Item, now time.Time) (time.Time, string, string) {
	at := it.Event.Time
	if v, ok := it.Event.Extensions[SentAtExtension]; ok {
		s, _ := v.(string)
		sent, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return at, CodeInvalidSentAt, fmt.Sprintf("extension %s must be an RFC 3339 time string, got %v", SentAtExtension, v)
		}
		at = at.Add(now.Sub(sent))
	}
	if t.RetentionDays > 0 && at.Before(now.AddDate(0, 0, -t.RetentionDays)) {
		return at, CodeEventTooOld, fmt.Sprintf("time %s is older than the tenant's retention of %d days", at.Format(time.RFC3339Nano), t.RetentionDays)
	}
	return at, "", ""
}

// setTimes gives the events the times timePolicy chose.
func setTimes(items []decode.Item, times []time.Time) {
	for i := range times {
		if !times[i].IsZero() {
			items[i].Event.Time = times[i]
		}
	}
}
