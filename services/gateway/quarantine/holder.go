package quarantine

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/services/gateway/schemacheck"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

// Producer produces records and waits for their acks (*ingest.Producer).
type Producer interface {
	ProduceAll(ctx context.Context, recs []*kgo.Record) ([]ingest.Ack, error)
}

// RulesFunc returns a tenant's schema rules (nil: none); schemacheck.Checker.Rules.
type RulesFunc func(tenant string) *eventschemas.TenantRules

// Holder produces a request's quarantined events (ingest.Quarantiner).
type Holder struct {
	topic    string
	producer Producer
	rules    RulesFunc
	logger   *slog.Logger
}

// NewHolder returns a holder producing to topic.
func NewHolder(topic string, p Producer, rules RulesFunc, logger *slog.Logger) *Holder {
	return &Holder{topic: topic, producer: p, rules: rules, logger: logger}
}

// bySchema are the codes of events a schema refused: always quarantined.
func bySchema(code string) bool {
	switch code {
	case schemacheck.CodeSchemaViolation, schemacheck.CodeUnknownType, schemacheck.CodeUnknownSchemaVersion:
		return true
	}
	return false
}

// invalid are the codes of events the envelope checks refused: quarantined
// when the tenant's quarantine_invalid is on. Others (duplicates, conflicts,
// Kafka unavailable) are not refusals of the event itself.
func invalid(code string) bool {
	switch code {
	case decode.CodeInvalidSchema, decode.CodeInvalidJSON, decode.CodeTooLarge, decode.CodeMissingID, decode.CodeInvalidTime, decode.CodeUnstorable:
		return true
	}
	return false
}

// Hold quarantines the events of a request that its results reject for
// good, waits for Kafka's acks, and sets their QuarantineID (an event Kafka
// did not take keeps its rejection, with a message saying so).
func (h *Holder) Hold(ctx context.Context, tenant string, items []decode.Item, results []ingest.Result, receivedAt time.Time) {
	var idx []int
	var withInvalid, known bool
	for i := range results {
		r := &results[i]
		if r.Status != ingest.StatusRejected {
			continue
		}
		if !known && !bySchema(r.Code) && invalid(r.Code) {
			rules := h.rules(tenant)
			withInvalid, known = rules != nil && rules.Settings.QuarantineInvalid, true
		}
		if bySchema(r.Code) || withInvalid && invalid(r.Code) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	recs := make([]*kgo.Record, 0, len(idx))
	qids := make([]string, 0, len(idx))
	held := idx[:0:0]
	for _, i := range idx {
		q := entryOf(tenant, &items[i], &results[i], receivedAt)
		rec, err := schemas.QuarantineRecord(h.topic, q)
		if err != nil {
			h.logger.Error("quarantine record not encoded", "tenant", tenant, "err", err)
			continue
		}
		recs, qids, held = append(recs, rec), append(qids, q.QuarantineID), append(held, i)
	}
	acks, err := h.producer.ProduceAll(ctx, recs)
	for k, i := range held {
		if err != nil || acks[k].Err != nil {
			results[i].Message += " (not quarantined: Kafka did not take it; resend the event)"
			continue
		}
		results[i].QuarantineID = qids[k]
	}
	if err != nil {
		h.logger.Warn("quarantine not produced", "tenant", tenant, "events", len(recs), "err", err)
	}
}

// entryOf is the quarantine record of one refused event.
func entryOf(tenant string, it *decode.Item, r *ingest.Result, receivedAt time.Time) *schemas.Quarantined {
	original := it.Raw
	if original == nil {
		original = structured(&it.Event, it.TimeSet)
	}
	return &schemas.Quarantined{QuarantineID: ulid.Make().String(), TenantID: tenant, ID: r.ID, Type: it.Event.Type, Subject: it.Event.Subject,
		Code: r.Code, Message: r.Message, Pointer: r.Pointer, SchemaVersion: r.SchemaVersion, ReceivedAt: receivedAt, Original: original}
}

// structured is a binary-mode event as the structured CloudEvent it was
// (binary mode has no single original byte string): replayable as sent.
func structured(ev *schemas.Event, timeSet bool) []byte {
	m := map[string]any{"specversion": "1.0", "id": ev.ID, "type": ev.Type}
	for k, v := range ev.Extensions {
		m[k] = v
	}
	for k, v := range map[string]string{"source": ev.Source, "subject": ev.Subject, "datacontenttype": ev.DataContentType,
		"dataschema": ev.DataSchema, "data_base64": ev.DataBase64} {
		if v != "" {
			m[k] = v
		}
	}
	if timeSet {
		m["time"] = ev.Time.Format(time.RFC3339Nano)
	}
	if len(ev.Data) > 0 {
		m["data"] = json.RawMessage(ev.Data)
	}
	b, _ := json.Marshal(m) // strings, numbers, booleans and valid JSON: cannot fail
	return b
}
