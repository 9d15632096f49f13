package schemacheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

const orderV1 = `{"type":"object","required":["order_id","amount"],"properties":{"order_id":{"type":"string"},"amount":{"type":"integer"},"currency":{"enum":["EUR","USD"]}}}`
const orderV2 = `{"type":"object","required":["order_id","amount"],"properties":{"order_id":{"type":"string"},"amount":{"type":["integer","string"]},"currency":{"enum":["EUR","USD"]}}}`

// memStore is a registry in memory.
type memStore struct {
	rules map[string]*eventschemas.TenantRules
	docs  map[versionKey][]byte
	loads int
}

func (m *memStore) LoadRules(_ context.Context, tenant string) (map[string]*eventschemas.TenantRules, error) {
	m.loads++
	out := map[string]*eventschemas.TenantRules{}
	for id, r := range m.rules {
		if tenant == "" || tenant == id {
			out[id] = r
		}
	}
	return out, nil
}

func (m *memStore) Document(_ context.Context, tenant, typ string, version int) ([]byte, error) {
	if d, ok := m.docs[versionKey{tenant, typ, version}]; ok {
		return d, nil
	}
	return nil, eventschemas.ErrVersionNotFound
}

func newStore() *memStore {
	return &memStore{
		rules: map[string]*eventschemas.TenantRules{
			"tenant-a": {Settings: eventschemas.Settings{Mode: eventschemas.ModeEnforce}, Types: map[string]eventschemas.TypeRule{
				"order.created":  {Mode: eventschemas.ModeEnforce, Version: 2, Document: []byte(orderV2)},
				"order.strict":   {Mode: eventschemas.ModeEnforce, Version: 1, Document: []byte(orderV1)},
				"order.warned":   {Mode: eventschemas.ModeWarn, Version: 1, Document: []byte(orderV1)},
				"order.ignored":  {Mode: eventschemas.ModeOff, Version: 1, Document: []byte(orderV1)},
				"page.untracked": {Mode: eventschemas.ModeOff}, // a mode of its own, no schema
			}},
		},
		docs: map[versionKey][]byte{{"tenant-a", "order.created", 1}: []byte(orderV1), {"tenant-a", "order.created", 2}: []byte(orderV2)},
	}
}

func decodeBatch(t testing.TB, body string) []decode.Item {
	t.Helper()
	v, err := decode.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	items, aerr := v.Decode(decode.FormatJSON, http.Header{}, []byte(body), decode.Limits{MaxEventBytes: 1 << 20, MaxEvents: 10000, MaxDepth: 32}, time.Now())
	if aerr != nil {
		t.Fatal(aerr)
	}
	return items
}

func ev(id, typ, data string, extra ...string) string {
	s := `{"specversion":"1.0","id":"` + id + `","type":"` + typ + `","source":"/t","data":` + data
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

type want struct {
	code, pointer string // code "" : accepted
	version       int
	warning       string // code of a warning
}

func TestCheckAppliesModesPerTypeAndVersion(t *testing.T) {
	c := New(newStore(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c.Resync(context.Background())
	items := decodeBatch(t, "["+strings.Join([]string{
		ev("ok", "order.created", `{"order_id":"o1","amount":"12"}`),                                                              // valid under v2
		ev("v1-violates", "order.created", `{"order_id":"o1","amount":"12"}`, `"dataschema":"/schemas/order.created/versions/1"`), // v1 wants an integer
		ev("v1-ok", "order.created", `{"order_id":"o1","amount":12}`, `"dataschema":"1"`),
		ev("v9", "order.created", `{"order_id":"o1","amount":12}`, `"dataschema":"https://x.example/versions/9"`),
		ev("enum", "order.strict", `{"order_id":"o1","amount":1,"currency":"GBP"}`),
		ev("missing", "order.strict", `{"order_id":"o1"}`),
		ev("warned", "order.warned", `{"order_id":1,"amount":1}`),
		ev("ignored", "order.ignored", `{"nothing":true}`),
		ev("untracked", "page.untracked", `{}`),
		ev("unknown", "user.signed_up", `{}`), // the tenant's mode is enforce: no schema means rejected
		`{"specversion":"1.0","id":"binary","type":"order.strict","data_base64":"AAEC"}`,
		`{"specversion":"1.0","id":"no-data","type":"order.strict"}`,
		`{"specversion":"1.0","type":"order.strict"}`, // refused by the envelope: untouched
	}, ",")+"]")
	c.Check(context.Background(), "tenant-a", items)
	wants := []want{
		{}, {code: CodeSchemaViolation, pointer: "/data/amount", version: 1}, {}, {code: CodeUnknownSchemaVersion, pointer: "/dataschema", version: 9},
		{code: CodeSchemaViolation, pointer: "/data/currency", version: 1}, {code: CodeSchemaViolation, pointer: "/data", version: 1},
		{warning: CodeSchemaViolation}, {}, {}, {code: CodeUnknownType, pointer: "/type"},
		{code: CodeSchemaViolation, pointer: "/data_base64", version: 1}, {code: CodeSchemaViolation, pointer: "/data", version: 1},
		{code: decode.CodeMissingID},
	}
	for i, w := range wants {
		it := items[i]
		switch {
		case w.code == "" && it.Reject != nil:
			t.Errorf("event %d (%s): rejected %+v, want accepted", i, it.ID, it.Reject)
		case w.code != "" && (it.Reject == nil || it.Reject.Code != w.code || it.Reject.Pointer != w.pointer || it.Reject.SchemaVersion != w.version):
			t.Errorf("event %d (%s): %+v, want %+v", i, it.ID, it.Reject, w)
		case w.warning != "" && (len(it.Warnings) != 1 || it.Warnings[0].Code != w.warning || it.Warnings[0].Pointer != "/data/order_id"):
			t.Errorf("event %d (%s): warnings %+v, want one %s at /data/order_id", i, it.ID, it.Warnings, w.warning)
		case w.warning == "" && len(it.Warnings) > 0:
			t.Errorf("event %d (%s): warnings %+v, want none", i, it.ID, it.Warnings)
		}
	}
}

// Another tenant's schemas never apply: tenant-b has none, so every event
// passes untouched, even one of a type tenant-a enforces.
func TestAnotherTenantsSchemaNeverApplies(t *testing.T) {
	c := New(newStore(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c.Resync(context.Background())
	items := decodeBatch(t, "["+ev("x", "order.strict", `{"order_id":1}`)+","+ev("y", "user.signed_up", `{}`)+"]")
	c.Check(context.Background(), "tenant-b", items)
	for _, it := range items {
		if it.Reject != nil || it.Warnings != nil {
			t.Fatalf("%s: %+v %+v", it.ID, it.Reject, it.Warnings)
		}
	}
	if c.Rules("tenant-b") != nil || c.Rules("tenant-a") == nil {
		t.Fatal("rules of the wrong tenant")
	}
}

// A notification reloads one tenant; the others keep their rules, and a
// failed reload keeps the previous rules.
func TestNotifyReloadsOneTenant(t *testing.T) {
	st := newStore()
	c := New(st, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c.Resync(context.Background())
	if v := c.Version("tenant-a", "order.strict"); v != 1 {
		t.Fatalf("version %d", v)
	}
	st.rules["tenant-a"].Types["order.strict"] = eventschemas.TypeRule{Mode: eventschemas.ModeEnforce, Version: 2, Document: []byte(orderV2)}
	st.rules["tenant-c"] = &eventschemas.TenantRules{Settings: eventschemas.Settings{Mode: eventschemas.ModeWarn}}
	c.Notify(context.Background(), "tenant-a")
	if v := c.Version("tenant-a", "order.strict"); v != 2 {
		t.Fatalf("after notify: version %d, want 2", v)
	}
	if c.Rules("tenant-c") != nil {
		t.Fatal("tenant-c loaded by tenant-a's notification")
	}
	delete(st.rules, "tenant-a")
	c.Notify(context.Background(), "tenant-a")
	if c.Rules("tenant-a") != nil {
		t.Fatal("tenant-a's rules kept after they were removed")
	}
	failing := &failStore{}
	c2 := New(failing, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c2.Resync(context.Background())
	if c2.Rules("tenant-a") != nil {
		t.Fatal("rules out of a failed load")
	}
}

type failStore struct{ memStore }

func (failStore) LoadRules(context.Context, string) (map[string]*eventschemas.TenantRules, error) {
	return nil, errors.New("postgres down")
}

func TestParseDataSchema(t *testing.T) {
	for in, want := range map[string]int{"3": 3, "/versions/12": 12, "https://h/t/schemas/a.b/versions/2": 2, "": 0, "v2": 0, "0": 0, "-1": 0, "https://json.example/schema": 0} {
		got, ok := ParseDataSchema(in)
		if got != want || ok != (want > 0) {
			t.Errorf("%q: %d %v, want %d", in, got, ok, want)
		}
	}
}

// BenchmarkCheckWithoutSchemas is the cost a tenant without schemas pays.
func BenchmarkCheckWithoutSchemas(b *testing.B) {
	c := New(newStore(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c.Resync(context.Background())
	items := make([]decode.Item, 100)
	b.ReportAllocs()
	for b.Loop() {
		c.Check(context.Background(), "tenant-b", items)
	}
}

// orderSchema10 is the benchmark's realistic schema (10 properties, a
// nested object, enums; tools/loadgen/internal/bench/schemas.go).
const orderSchema10 = `{"type":"object","required":["seq","user","amount","country","currency","status","customer"],"properties":{
  "seq":{"type":"integer","minimum":0},"user":{"type":"string","pattern":"^u-[0-9]+$"},"amount":{"type":"integer","minimum":0,"maximum":1000000},
  "country":{"enum":["DE","FR","GB","US"]},"currency":{"enum":["EUR","USD","GBP"]},"status":{"enum":["new","paid","shipped"]},
  "customer":{"type":"object","required":["id","tier"],"additionalProperties":false,
   "properties":{"id":{"type":"string","minLength":1},"tier":{"enum":["gold","silver","bronze"]},"email":{"type":"string","format":"email"}}},
  "coupon":{"type":"string","maxLength":32},"gift":{"type":"boolean"},"pad":{"type":"string"}},"additionalProperties":false}`

// BenchmarkCheckEnforced1000 is the cost of enforcing orderSchema10 on a
// 1,000-event batch of ~300-byte order data.
func BenchmarkCheckEnforced1000(b *testing.B) {
	st := &memStore{rules: map[string]*eventschemas.TenantRules{"t": {Settings: eventschemas.Settings{Mode: eventschemas.ModeEnforce},
		Types: map[string]eventschemas.TypeRule{"order.created": {Mode: eventschemas.ModeEnforce, Version: 1, Document: []byte(orderSchema10)}}}}}
	c := New(st, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c.Resync(context.Background())
	data := `{"seq":123456,"user":"u-456","amount":3456,"country":"DE","currency":"EUR","status":"paid","customer":{"id":"c-3456","tier":"gold"},"pad":"` + strings.Repeat("x", 120) + `"}`
	var evs []string
	for i := range 1000 {
		evs = append(evs, ev(fmt.Sprint("e", i), "order.created", data))
	}
	items := decodeBatch(b, "["+strings.Join(evs, ",")+"]")
	b.ReportAllocs()
	for b.Loop() {
		for i := range items {
			items[i].Reject = nil
		}
		c.Check(context.Background(), "t", items)
	}
	if items[0].Reject != nil {
		b.Fatal(items[0].Reject)
	}
}

// A replay's verdict applies the type's schema whatever its mode; a type
// without a schema passes only when its mode is off.
func TestValidateIgnoresTheModeOfATypeWithASchema(t *testing.T) {
	c := New(newStore(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	c.Resync(context.Background())
	items := decodeBatch(t, "["+strings.Join([]string{
		ev("a", "order.ignored", `{"order_id":1}`), // mode off, schema v1: violates
		ev("b", "order.warned", `{"order_id":"o","amount":1}`),
		ev("c", "page.untracked", `{}`), // mode off, no schema
		ev("d", "user.signed_up", `{}`), // tenant mode enforce, no schema
	}, ",")+"]")
	want := []string{CodeSchemaViolation, "", "", CodeUnknownType}
	for i, w := range want {
		got := ""
		if r := c.Validate(context.Background(), "tenant-a", &items[i]); r != nil {
			got = r.Code
		}
		if got != w {
			t.Errorf("event %s: %q, want %q", items[i].ID, got, w)
		}
	}
}
