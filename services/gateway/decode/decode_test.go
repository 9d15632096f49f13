package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testLimits = Limits{MaxEventBytes: 1 << 20, MaxEvents: 10000, MaxDepth: 32}

func newValidator(tb testing.TB) *Validator {
	tb.Helper()
	v, err := NewValidator()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestFormatIsChosenByContentTypeAndCeHeaders(t *testing.T) {
	cases := []struct {
		h    http.Header
		want Format
	}{
		{hdr("Content-Type", "application/json"), FormatJSON},
		{hdr("Content-Type", "application/json; charset=utf-8"), FormatJSON},
		{hdr("Content-Type", "application/cloudevents+json"), FormatStructured},
		{hdr("Content-Type", "application/cloudevents-batch+json"), FormatBatch},
		{hdr("Content-Type", "application/x-ndjson"), FormatNDJSON},
		{hdr("Content-Type", "application/json", "Ce-Specversion", "1.0"), FormatBinary},
		{hdr("Content-Type", "text/plain", "Ce-Specversion", "1.0"), FormatBinary},
		{hdr("Content-Type", "application/cloudevents+json", "Ce-Specversion", "1.0"), FormatStructured},
	}
	for _, c := range cases {
		got, err := FormatOf(c.h)
		if err != nil || got != c.want {
			t.Errorf("FormatOf(%v) = %v, %v; want %v", c.h, got, err, c.want)
		}
	}
	for _, ct := range []string{"", "text/plain", "application/xml", "application/json; x"} {
		if _, err := FormatOf(hdr("Content-Type", ct)); err == nil || err.Status != 415 {
			t.Errorf("FormatOf(%q) = %v, want 415", ct, err)
		}
	}
}

// A structured or batch request whose ce-specversion header names another
// version than 1.0 is refused as a whole (400 unsupported_specversion);
// found by the API fuzz step, which sent a batch with "ce-specversion:
// __proto__" and got 207.
func TestStructuredOrBatchWithAnotherSpecVersionHeaderIsRefused(t *testing.T) {
	for _, ct := range []string{MediaStructured, MediaBatch} {
		for _, v := range []string{"__proto__", "0.3", "2.0"} {
			_, err := FormatOf(hdr("Content-Type", ct, "Ce-Specversion", v))
			if err == nil || err.Status != 400 || err.Code != CodeUnsupportedSpecVersion {
				t.Errorf("FormatOf(%s, ce-specversion %q) = %v, want 400 %s", ct, v, err, CodeUnsupportedSpecVersion)
			}
		}
	}
}

func TestEventsAreValidatedOneByOne(t *testing.T) {
	v := newValidator(t)
	body := `[
	 {"id":"a","type":"t","data":{"x":1}},
	 {"type":"t"},
	 {"id":"c","type":5},
	 {"id":"d","type":"t","time":"yesterday"},
	 {"id":"e","type":"t","Bad_Ext":"x"},
	 {"id":"f","type":"t","data":1,"data_base64":"AA=="},
	 3,
	 {"id":"h","type":"t","time":"2026-11-26T10:00:00.5Z","source":"s","subject":"sub","datacontenttype":"application/json","ext1":"v","ext2":7,"data":[1,2]}
	]`
	items, aerr := v.Decode(FormatJSON, nil, []byte(body), testLimits, time.Unix(100, 0))
	if aerr != nil {
		t.Fatal(aerr)
	}
	want := []string{"", CodeMissingID, CodeInvalidSchema, CodeInvalidSchema, CodeInvalidSchema, CodeInvalidSchema, CodeInvalidSchema, ""}
	if len(items) != len(want) {
		t.Fatalf("%d items, want %d", len(items), len(want))
	}
	for i, it := range items {
		got := ""
		if it.Reject != nil {
			got = it.Reject.Code
			if it.Reject.Message == "" {
				t.Errorf("item %d: empty message", i)
			}
		}
		if got != want[i] {
			t.Errorf("item %d: code %q (%v), want %q", i, got, it.Reject, want[i])
		}
	}
	if it := items[0]; string(it.Event.Data) != `{"x":1}` || it.TimeSet || !it.Event.Time.Equal(time.Unix(100, 0)) {
		t.Errorf("item 0: %+v", it)
	}
	h := items[7].Event
	if h.ID != "h" || h.Source != "s" || h.Subject != "sub" || !items[7].TimeSet || h.Time.Nanosecond() != 5e8 || string(h.Data) != "[1,2]" ||
		fmt.Sprint(h.Extensions["ext2"]) != "7" || len(h.Extensions) != 2 {
		t.Errorf("item 7: %+v", h)
	}
	if items[2].ID != "c" {
		t.Errorf("rejected item keeps its id: %q", items[2].ID)
	}
}

func TestRequestLevelProblemsAreFourHundreds(t *testing.T) {
	v := newValidator(t)
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	cases := []struct {
		name, body string
		f          Format
		status     int
		code       string
	}{
		{"malformed", `[{"id":"a","type":"t"},{"id":]`, FormatJSON, 400, CodeMalformedJSON},
		{"truncated", `{"id":"a"`, FormatJSON, 400, CodeMalformedJSON},
		{"empty array", ` [ ] `, FormatJSON, 400, CodeEmpty},
		{"empty body", "  ", FormatJSON, 400, CodeEmpty},
		{"scalar body", `"x"`, FormatJSON, 400, CodeInvalidBody},
		{"invalid utf8", "{\"id\":\"\xff\",\"type\":\"t\"}", FormatJSON, 400, CodeInvalidUTF8},
		{"deep", `{"id":"a","type":"t","data":` + deep + `}`, FormatJSON, 400, CodeTooDeep},
		{"structured array", `[{"id":"a","type":"t"}]`, FormatStructured, 400, CodeInvalidBody},
		{"batch object", `{"id":"a","type":"t"}`, FormatBatch, 400, CodeInvalidBody},
		{"trailing", `{"id":"a","type":"t"} x`, FormatJSON, 400, CodeMalformedJSON},
		{"ndjson empty", "\n\n", FormatNDJSON, 400, CodeEmpty},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, err := v.Decode(c.f, nil, []byte(c.body), testLimits, time.Now())
			if err == nil || err.Status != c.status || err.Code != c.code {
				t.Fatalf("got %v (items %v), want %d %s", err, items, c.status, c.code)
			}
		})
	}
	_, err := v.Decode(FormatJSON, nil, []byte(`  [{"id":"a","type":"t"},{"id":]`), testLimits, time.Now())
	if err.Offset == nil || *err.Offset != 32 {
		t.Fatalf("offset %v, want 32 (error position in the body)", err.Offset)
	}
}

func TestTooManyEventsIs413(t *testing.T) {
	v := newValidator(t)
	lim := testLimits
	lim.MaxEvents = 2
	_, err := v.Decode(FormatJSON, nil, []byte(`[{"id":"a","type":"t"},{"id":"b","type":"t"},{"id":"c","type":"t"}]`), lim, time.Now())
	if err == nil || err.Status != 413 || err.Code != CodeTooManyEvents {
		t.Fatalf("got %v", err)
	}
}

func TestOversizedEventIsRejectedAloneWithItsID(t *testing.T) {
	v := newValidator(t)
	lim := testLimits
	lim.MaxEventBytes = 100
	big := fmt.Sprintf(`{"id":"big","type":"t","data":%q}`, strings.Repeat("x", 200))
	items, err := v.Decode(FormatJSON, nil, []byte(`[`+big+`,{"id":"ok","type":"t"}]`), lim, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Reject == nil || items[0].Reject.Code != CodeTooLarge || items[0].ID != "big" || items[1].Reject != nil {
		t.Fatalf("items %+v", items)
	}
}

func TestNDJSONRejectsBadLinesOnly(t *testing.T) {
	v := newValidator(t)
	body := "{\"id\":\"a\",\"type\":\"t\"}\r\n{\"id\":\n\n{\"id\":\"c\",\"type\":\"t\"}"
	items, err := v.Decode(FormatNDJSON, nil, []byte(body), testLimits, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].Reject != nil || items[1].Reject == nil || items[1].Reject.Code != CodeInvalidJSON || items[2].Event.ID != "c" {
		t.Fatalf("items %+v", items)
	}
}

func TestBinaryModeTakesAttributesFromHeaders(t *testing.T) {
	v := newValidator(t)
	h := hdr("Ce-Specversion", "1.0", "Ce-Id", "b1", "Ce-Type", "com.example", "Ce-Source", "/src", "Ce-Subject", "a%20b",
		"Ce-Time", "2026-11-26T10:00:00Z", "Ce-Myext", "v", "Content-Type", "application/json")
	items, err := v.Decode(FormatBinary, h, []byte(`{"k":"v"}`), testLimits, time.Now())
	if err != nil || len(items) != 1 || items[0].Reject != nil {
		t.Fatalf("%v %+v", err, items)
	}
	ev := items[0].Event
	if ev.ID != "b1" || ev.Type != "com.example" || ev.Subject != "a b" || string(ev.Data) != `{"k":"v"}` || ev.DataContentType != "application/json" || ev.Extensions["myext"] != "v" {
		t.Fatalf("event %+v", ev)
	}
	h.Set("Content-Type", "text/plain")
	items, _ = v.Decode(FormatBinary, h, []byte("hello"), testLimits, time.Now())
	if items[0].Event.DataBase64 != "aGVsbG8=" || items[0].Event.Data != nil {
		t.Fatalf("text data: %+v", items[0].Event)
	}
	h.Del("Ce-Type")
	items, _ = v.Decode(FormatBinary, h, []byte("hello"), testLimits, time.Now())
	if items[0].Reject == nil || items[0].Reject.Code != CodeInvalidSchema || items[0].ID != "b1" {
		t.Fatalf("missing type: %+v", items[0])
	}
}

// fastVerdict is the hot path's verdict on one JSON object.
func fastVerdict(v *Validator, raw []byte) (bool, error) {
	raw = bytes.TrimSpace(raw)
	_, _, err := v.validateEnvelope(objectMembers(nil, raw))
	return err == nil, nil
}

func agreementSeeds() []string {
	return []string{
		`{"id":"a","type":"t"}`,
		`{"id":"a","type":"t","data":{"deep":[1,2,{"x":null}]}}`,
		`{"id":"a","type":"t","data":null,"data_base64":"AA=="}`,
		`{"id":"a","type":"t","data_base64":"!!"}`,
		`{"id":"","type":"t"}`,
		`{"id":"a\u0001","type":"t"}`,
		`{"id":"a","type":"t","time":"2026-02-30T00:00:00Z"}`,
		`{"id":"a","type":"t","time":"2026-11-26t10:00:00z"}`,
		`{"id":"a","type":"t","ext":{"o":1}}`,
		`{"id":"a","type":"t","ext":1e400}`,
		`{"id":"a","type":"t","specversion":"0.3"}`,
		`{"id":"a","id":5,"type":"t"}`,
		`{"id":"a","type":"t","data":1,"data":2}`,
		`{"type":"t","data":"x"}`,
		`{"id":"\u00e9\u00e9","type":"t","source":"` + strings.Repeat("é", 1024) + `"}`,
		`{"id":"a","type":"t","UPPER":"x"}`,
		`{"id":"a","type":"t","aaaaaaaaaaaaaaaaaaaaa":"x"}`,
		`{"id":"a","type":"t","ex":null}`,
		`{"id":"a","type":"t","ex":[1]}`,
		`{"id":"a","type":"t","time":"2026-12-31T23:59:60Z"}`,
		`{"id":"a","type":"t","time":"2026-11-26T10:00:00.123456789+05:30","ext":-1.5e3,"b":false}`,
		`{"id":"a","type":"t","time":"2026-11-26T10:00:00+24:00"}`,
		`{"id":"a","type":"t","time":"2026-11-26T10:00:00.Z"}`,
		`{"id":"a","type":"t","specversion":"1.0","source":"","subject":"é","datacontenttype":"application/json","dataschema":"x"}`,
		`{"id":"é","type":"` + strings.Repeat("é", 256) + `"}`,
		`{"id":"é","type":"` + strings.Repeat("é", 257) + `"}`,
		`{"id":"a","type":"t","source":"a\u0000b"}`,
		"{\"id\":\"a\",\"type\":\"t\",\"source\":\"a\x7fb\"}",
		`{"id":"a","type":"t","x":"a\"b"}`,
		`{"id":"a","type":"t","type":"u"}`,
		`{"id":"a","type":"t","data":{},"data_base64":"AA=="}`,
		`{"id":"a","type":"t","data_base64":"AA=="}`,
	}
}

func TestFastPathAgreesWithFullValidationOnSeeds(t *testing.T) {
	v := newValidator(t)
	for _, s := range agreementSeeds() {
		checkAgreement(t, v, []byte(s))
	}
}

func checkAgreement(t *testing.T, v *Validator, raw []byte) {
	t.Helper()
	if !utf8.Valid(raw) || !json.Valid(raw) || bytes.TrimSpace(raw)[0] != '{' {
		return // the request decoder refuses these before validation
	}
	env, err := fastVerdict(v, raw)
	if err != nil {
		return
	}
	fullErr := v.ValidateDocument(raw)
	if env != (fullErr == nil) {
		t.Fatalf("verdicts differ on %s: envelope valid=%v, full: %v", raw, env, fullErr)
	}
	// The shortcut only accepts what the library accepts, and reads the
	// event exactly as the library path does.
	now := time.Unix(7, 0)
	var fast Item
	if !v.fastAccept(&fast, objectMembers(nil, bytes.TrimSpace(raw)), now) {
		return
	}
	if fullErr != nil {
		t.Fatalf("fastAccept accepted %s, the schema refuses it: %v", raw, fullErr)
	}
	slow := v.finish(Item{}, objectMembers(nil, bytes.TrimSpace(raw)), nil, now)
	if slow.Reject != nil {
		// Only the documented divergence: a schema-valid time Go cannot parse.
		if slow.Reject.Code != CodeInvalidTime {
			t.Fatalf("library path rejects what fastAccept accepted: %s: %v", raw, slow.Reject)
		}
		return
	}
	fj, _ := json.Marshal(fast.Event)
	sj, _ := json.Marshal(slow.Event)
	if !bytes.Equal(fj, sj) || fast.TimeSet != slow.TimeSet || fast.ID != slow.ID {
		t.Fatalf("paths read %s differently:\n fast %s\n slow %s", raw, fj, sj)
	}
}

// FuzzFastPathAgreesWithFullValidation is the differential test: for every
// JSON object, validating the envelope (data replaced by a placeholder) gives
// the same verdict as validating the whole event with the library.
func FuzzFastPathAgreesWithFullValidation(f *testing.F) {
	for _, s := range agreementSeeds() {
		f.Add([]byte(s))
	}
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, raw []byte) { checkAgreement(t, v, raw) })
}

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder in every
// format: it must never panic, and must answer either a 4xx or one item per
// event, each valid or rejected with a code.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range agreementSeeds() {
		f.Add(uint8(1), []byte(s))
		f.Add(uint8(2), []byte("["+s+","+s+"]"))
	}
	v := newValidator(f)
	lim := Limits{MaxEventBytes: 4096, MaxEvents: 50, MaxDepth: 16}
	f.Fuzz(func(t *testing.T, format uint8, body []byte) {
		fm := Format(format%5) + 1
		h := hdr("Ce-Specversion", "1.0", "Ce-Id", "x", "Ce-Type", "t", "Content-Type", "application/json")
		items, err := v.Decode(fm, h, body, lim, time.Unix(0, 0))
		if err != nil {
			if err.Status < 400 || err.Status > 499 || err.Code == "" || items != nil {
				t.Fatalf("bad request error %+v", err)
			}
			return
		}
		if len(items) == 0 || len(items) > lim.MaxEvents {
			t.Fatalf("%d items", len(items))
		}
		for _, it := range items {
			if it.Reject == nil && (it.Event.ID == "" || it.Event.Type == "") {
				t.Fatalf("accepted event without id/type: %+v", it)
			}
			if it.Reject != nil && it.Reject.Code == "" {
				t.Fatalf("reject without code")
			}
			if it.Event.Data != nil && !json.Valid(it.Event.Data) {
				t.Fatalf("invalid data passed on: %q", it.Event.Data)
			}
		}
	})
}

func benchBatch(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"evt-%08d","type":"com.example.order.created","source":"/shop/eu","subject":"order-%d","time":"2026-11-26T10:00:00.123Z","datacontenttype":"application/json","data":{"order_id":%d,"customer":"cust-%d","amount":123.45,"currency":"EUR","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}],"note":"deliver to back door"}}`, i, i, i, i%97)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// BenchmarkDecodeValidateBatch1000 reports per-event cost (ns/op and
// allocs/op are per event: b.N counts events).
func BenchmarkDecodeValidateBatch1000(b *testing.B) {
	v := newValidator(b)
	body := benchBatch(1000)
	b.SetBytes(int64(len(body) / 1000))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		items, err := v.Decode(FormatJSON, nil, body, testLimits, time.Now())
		if err != nil || items[999].Reject != nil {
			b.Fatal(err, items[999].Reject)
		}
	}
}

// BenchmarkFullDocumentValidation is the generic reference (per event).
func BenchmarkFullDocumentValidation(b *testing.B) {
	v := newValidator(b)
	var raws []json.RawMessage
	_ = json.Unmarshal(benchBatch(1000), &raws)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := v.ValidateDocument(raws[i%1000]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFastPathTakesTheCommonEventsAndLeavesTheRestToTheLibrary(t *testing.T) {
	v := newValidator(t)
	body := benchBatch(3)
	for _, raw := range arrayElems(body) {
		var it Item
		if !v.fastAccept(&it, objectMembers(nil, raw), time.Now()) {
			t.Fatalf("fast path refused a plain valid event: %s", raw)
		}
	}
	for _, s := range []string{`{"id":"a","type":"t","data_base64":"AA=="}`, `{"id":"a","type":5}`, `{"id":"a","id":"b","type":"t"}`, `{"id":"a","type":"t","x":null}`} {
		var it Item
		if v.fastAccept(&it, objectMembers(nil, []byte(s)), time.Now()) {
			t.Errorf("fast path took %s", s)
		}
	}
}

// TestFastPathAgreesOnGeneratedEvents builds events from the schema's
// vocabulary (known and extension attributes, near-limit lengths, control
// characters, wrong types, repeated members, odd times) — inputs random
// byte mutation rarely reaches — and checks both agreements on each.
func TestFastPathAgreesOnGeneratedEvents(t *testing.T) {
	v := newValidator(t)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"id", "type", "source", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64", "specversion",
		"ext", "e2", "Bad", "a_b", "toolongextensionname1", "", "id"}
	strs := []string{`""`, `"a"`, `"1.0"`, `"0.3"`, `"é"`, `"a\u0001"`, `"a\u007f"`, `"\u00e9"`, `"a\"b"`, `"AA=="`, `"!!"`,
		`"2026-11-26T10:00:00Z"`, `"2026-11-26t10:00:00.5z"`, `"2026-02-29T10:00:00Z"`, `"2026-11-26T24:00:00Z"`, `"2026-11-26T10:00:00+01:00"`,
		`"2026-12-31T23:59:60Z"`, `"2026-11-26 10:00:00Z"`, `"` + strings.Repeat("x", 256) + `"`, `"` + strings.Repeat("é", 257) + `"`,
		`"` + strings.Repeat("y", 1025) + `"`}
	others := []string{`1`, `-2.5e3`, `true`, `false`, `null`, `{}`, `[1]`, `{"x":[1,{"y":"z"}]}`}
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		b.WriteByte('{')
		if rng.IntN(10) > 0 {
			b.WriteString(`"id":"id-1",`)
		}
		if rng.IntN(10) > 0 {
			b.WriteString(`"type":"t",`)
		}
		members := rng.IntN(5)
		for i := 0; i < members; i++ {
			k := keys[rng.IntN(len(keys))]
			val := strs[rng.IntN(len(strs))]
			if rng.IntN(4) == 0 {
				val = others[rng.IntN(len(others))]
			}
			fmt.Fprintf(&b, "%q:%s,", k, val)
		}
		s := strings.TrimSuffix(b.String(), ",") + "}"
		checkAgreement(t, v, []byte(s))
	}
}
