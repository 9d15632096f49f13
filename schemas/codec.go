package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The record codec: the one writer (EventRecord, TombstoneRecord) and the
// one reader (DecodeRecord) of the event topic, used by the gateway, the
// projector, the load generator and the tests. A new format version is
// added beside the current one: the writers move to it, RecordVersion
// names it, and DecodeRecord keeps a case for every version still in the
// log (decodeV1 for version 1).
//
// DecodeRecord reads event values without reflection and falls back to
// encoding/json for anything outside the writer's shape (decode.go; why,
// in the package comment).

var (
	headerVersion   = kgo.RecordHeader{Key: HeaderVersion, Value: []byte(strconv.Itoa(RecordVersion))}
	headerEvent     = kgo.RecordHeader{Key: HeaderKind, Value: []byte(KindEvent)}
	headerTombstone = kgo.RecordHeader{Key: HeaderKind, Value: []byte(KindTombstone)}
	headerJSON      = kgo.RecordHeader{Key: HeaderContentType, Value: []byte(ContentTypeJSON)}
)

// newRecord returns a record with its own three headers (version, kind,
// content type) in one allocation: callers may change a record's headers.
func newRecord(topic string, kind kgo.RecordHeader) *kgo.Record {
	rh := &struct {
		r kgo.Record
		h [3]kgo.RecordHeader
	}{h: [3]kgo.RecordHeader{headerVersion, kind, headerJSON}}
	rh.r.Topic = topic
	rh.r.Headers = rh.h[:]
	return &rh.r
}

// EventRecord is the Kafka record of one accepted event (format version
// RecordVersion, whatever ev.Version says): key Key(tenant, id), value the
// Event JSON. Key and value share one allocation, and the value is built
// without reflection (appendEvent), so this is the gateway's hot path.
func EventRecord(topic string, ev *Event) *kgo.Record {
	r := newRecord(topic, headerEvent)
	n := keyLen(ev.TenantID, ev.ID)
	buf := AppendKey(make([]byte, 0, n+valueCap(ev)), ev.TenantID, ev.ID)
	r.Key, r.Value = buf[:n:n], appendEvent(buf[n:], ev)
	return r
}

// TombstoneRecord is the Kafka record erasing (ts.TenantID, ts.ID) (format
// version RecordVersion, whatever ts.Version says).
func TombstoneRecord(topic string, ts *Tombstone) (*kgo.Record, error) {
	v := *ts
	v.Version = RecordVersion
	value, err := json.Marshal(&v)
	if err != nil {
		return nil, fmt.Errorf("encode tombstone %s: %w", ts.ID, err)
	}
	r := newRecord(topic, headerTombstone)
	r.Key, r.Value = Key(ts.TenantID, ts.ID), value
	return r, nil
}

// Record is one decoded record of the event topic: Event for KindEvent,
// Tombstone for KindTombstone.
type Record struct {
	Kind       string
	TenantID   string
	ExternalID string
	Event      *Event
	Tombstone  *Tombstone
}

func poison(format string, args ...any) error {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// header returns the value of the last header named key.
func header(r *kgo.Record, key string) ([]byte, bool) {
	var v []byte
	ok := false
	for _, h := range r.Headers {
		if h.Key == key {
			v, ok = h.Value, true
		}
	}
	return v, ok
}

// DecodeRecord checks and decodes one record of any version this build
// reads. The returned error is always a *DecodeError: the record can never
// be applied.
func DecodeRecord(r *kgo.Record) (Record, error) {
	v, ok := header(r, HeaderVersion)
	if !ok {
		return Record{}, poison("missing header %s", HeaderVersion)
	}
	switch string(v) {
	case "1":
		return decodeV1(r)
	default:
		return Record{}, poison("unknown record version %q (this build reads %d)", v, RecordVersion)
	}
}

// decodeV1 decodes a record of format version 1: JSON values checked
// against the key. The decoded record's tenant and id are the value's
// strings (equal to the key's), so the key costs no allocation.
func decodeV1(r *kgo.Record) (Record, error) {
	i := bytes.IndexByte(r.Key, '/')
	if i <= 0 {
		return Record{}, poison("key: record key has no tenant/id separator")
	}
	tenant, id := r.Key[:i], r.Key[i+1:]
	if len(id) == 0 {
		return Record{}, poison("key has an empty external id")
	}
	kind, _ := header(r, HeaderKind)
	switch string(kind) {
	case KindEvent:
		ev := new(Event)
		if err := checkValueV1(KindEvent, decodeEventV1(r.Value, ev), ev, tenant, id); err != nil {
			return Record{}, err
		}
		if ev.Type == "" {
			return Record{}, poison("event has no type")
		}
		return Record{Kind: KindEvent, TenantID: ev.TenantID, ExternalID: ev.ID, Event: ev}, nil
	case KindTombstone:
		ts := new(Tombstone)
		if err := checkValueV1(KindTombstone, json.Unmarshal(r.Value, ts), ts, tenant, id); err != nil {
			return Record{}, err
		}
		return Record{Kind: KindTombstone, TenantID: ts.TenantID, ExternalID: ts.ID, Tombstone: ts}, nil
	default:
		return Record{}, poison("unknown %s header %q", HeaderKind, kind)
	}
}

// value is the part every record value shares: format version and key.
type value interface {
	head() (version int, tenantID, id string)
}

func (e *Event) head() (int, string, string)     { return e.Version, e.TenantID, e.ID }
func (t *Tombstone) head() (int, string, string) { return t.Version, t.TenantID, t.ID }

// checkValueV1 turns the error of decoding a kind value v into a poison
// verdict and checks that v is version 1 and names the record's key.
func checkValueV1(kind string, err error, v value, tenant, id []byte) error {
	if err != nil {
		return poison("%s value: %v", kind, err)
	}
	version, vt, vid := v.head()
	if version != 1 {
		return poison("%s value version %d (this build reads %d)", kind, version, RecordVersion)
	}
	if vt != string(tenant) || vid != string(id) {
		return poison("%s value names %q/%q but the key is %q/%q", kind, vt, vid, tenant, id)
	}
	return nil
}
