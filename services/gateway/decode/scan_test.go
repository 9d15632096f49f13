package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/schemas"
)

// scanSeeds are bodies at the edges of what scanBody decides: every JSON
// token, nesting at the limit, bad escapes and UTF-8, white space the
// slow path trims but JSON does not allow.
func scanSeeds() []string {
	seeds := []string{
		``, ` `, `[]`, ` [ ] `, `{}`, `[{}]`, `[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`,
		`"x"`, `1`, `-0`, `-`, `01`, `1.`, `1.5e`, `1e+5`, `-0.0E-0`, `true`, `tru`, `nul`, `false `, `[true,false,null]`,
		`"\u00e9\n\"\\\/\b\f\r\t"`, `"\u12G4"`, `"\x"`, `"a` + "\x01" + `"`, `"a` + "\x7f" + `"`, "\"\xff\"", "\"\xc3\"", "[\"é\"]",
		"\xef\xbb\xbf[]", "\u00a0[]", "[]\u0085", "[1]\x00", "[1] [2]", `[[[[]]]]`, `[[[[[]]]]]`, `{"a":{"b":{"c":{}}}}`,
		`{"a":{"b":{"c":{"d":{}}}}}`, `["]"]`, `["[[[[[["]`, `{"id":"a","type":"t"}`, "[\n{\"id\":\"a\",\"type\":\"t\"}\r\n,\t{}]",
	}
	return append(seeds, agreementSeeds()...)
}

// checkScan holds scanBody to what it replaces: checkText, then json.Valid
// on the trimmed body, then arrayElems, and objectMembers of each event
// object it recorded (every object of at most maxRecorded members). The one
// difference by design: Unicode white space around the value (which
// bytes.TrimSpace trims and JSON does not allow) sends the body to the slow
// path, which decides as before.
func checkScan(t *testing.T, body []byte, maxDepth int) {
	t.Helper()
	sc, ok := scanBody(body, maxDepth, nil)
	trimmed := bytes.TrimSpace(body)
	jsonTrimmed := bytes.Trim(body, " \t\r\n")
	want := checkText(body, maxDepth) == nil && len(jsonTrimmed) > 0 && json.Valid(jsonTrimmed)
	if ok != want {
		t.Fatalf("scanBody(%q, %d) ok=%v, checkText+json.Valid say %v", body, maxDepth, ok, want)
	}
	if !ok {
		return
	}
	if !bytes.Equal(sc.val, trimmed) {
		t.Fatalf("scanBody(%q) value %q, want %q", body, sc.val, trimmed)
	}
	events := [][]byte{trimmed}
	if trimmed[0] == '[' {
		events = arrayElems(trimmed)
		if len(sc.elems) != len(events) {
			t.Fatalf("scanBody(%q) split %d elements, arrayElems %d", body, len(sc.elems), len(events))
		}
		for i := range sc.elems {
			if !bytes.Equal(sc.elems[i], events[i]) {
				t.Fatalf("scanBody(%q) element %d %q, arrayElems %q", body, i, sc.elems[i], events[i])
			}
		}
	} else if len(sc.elems) != 0 {
		t.Fatalf("scanBody(%q) split a lone value into %d elements", body, len(sc.elems))
	}
	for i, ev := range events {
		ms, known := sc.members(i)
		if ev[0] != '{' {
			if known {
				t.Fatalf("scanBody(%q) recorded members %v of non-object %q", body, ms, ev)
			}
			continue
		}
		want := objectMembers(nil, ev)
		if !known {
			if len(want) <= maxRecorded {
				t.Fatalf("scanBody(%q) did not record the %d members of %q", body, len(want), ev)
			}
			continue
		}
		if len(ms) != len(want) {
			t.Fatalf("scanBody(%q) event %d: %d members, objectMembers %d", body, i, len(ms), len(want))
		}
		for j := range ms {
			if ms[j].key != want[j].key || !bytes.Equal(ms[j].val, want[j].val) {
				t.Fatalf("scanBody(%q) event %d member %d %q: %q, objectMembers %q: %q", body, i, j, ms[j].key, ms[j].val, want[j].key, want[j].val)
			}
		}
	}
}

func TestScanBodyAgreesOnSeeds(t *testing.T) {
	for _, s := range scanSeeds() {
		for _, d := range []int{0, 1, 3, 4, 64} {
			checkScan(t, []byte(s), d)
			checkScan(t, []byte("["+s+"]"), d)
			checkScan(t, []byte("["+s+","+s+"]"), d)
		}
	}
	checkScan(t, benchBatch(50), 64)
	many := func(n int) string { // an event of n members
		ms := make([]string, n)
		for i := range ms {
			ms[i] = fmt.Sprintf(`"k%d":%d`, i, i)
		}
		return "{" + strings.Join(ms, ",") + "}"
	}
	for _, n := range []int{maxRecorded - 1, maxRecorded, maxRecorded + 1, 3 * maxRecorded} {
		checkScan(t, []byte(many(n)), 64)
		checkScan(t, []byte("["+many(n)+`,{"id":"a"},`+many(n)+",1]"), 64)
	}
	checkScan(t, []byte(strings.Repeat("[", 70)+strings.Repeat("]", 70)), 64)
}

// FuzzScanBodyAgreesWithTheChecksItReplaces is the differential test of the
// one-pass scanner against checkText, json.Valid and arrayElems.
func FuzzScanBodyAgreesWithTheChecksItReplaces(f *testing.F) {
	for _, s := range scanSeeds() {
		f.Add(uint8(4), []byte(s))
		f.Add(uint8(3), []byte("["+s+","+s+"]"))
	}
	f.Fuzz(func(t *testing.T, depth uint8, body []byte) { checkScan(t, body, int(depth%8)) })
}

// checkPlainTime holds plainTime to the event schema's "time" rule and to
// the library path's reading: what it accepts the schema accepts, read as
// finish reads it.
func checkPlainTime(t *testing.T, v *Validator, s string) {
	t.Helper()
	got, ok := plainTime(s)
	if !ok {
		return
	}
	doc, _ := json.Marshal(map[string]string{"id": "a", "type": "t", "time": s})
	if err := v.ValidateDocument(doc); err != nil {
		t.Fatalf("plainTime accepts %q, the schema refuses it: %v", s, err)
	}
	slow := v.finish(Item{}, objectMembers(nil, doc), nil, time.Unix(7, 0))
	if slow.Reject != nil || !slow.Event.Time.Equal(got) || slow.Event.Time.String() != got.String() {
		t.Fatalf("plainTime reads %q as %v, the library path as %v (%v)", s, got, slow.Event.Time, slow.Reject)
	}
}

func timeSeeds() []string {
	return []string{"2026-11-26T10:00:00Z", "2026-11-26t10:00:00.5z", "2026-02-29T10:00:00Z", "2024-02-29T23:59:59.999999999-23:59",
		"2026-11-26T24:00:00Z", "2026-11-26T10:00:00+01:00", "2026-12-31T23:59:60Z", "2026-11-26 10:00:00Z", "2026-11-26T10:00:00.Z",
		"2026-11-26T10:00:00+24:00", "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-26T10:00:00+1:000",
		"2026-11-26T10:60:00Z", "+026-11-26T10:00:00Z", "2026-11-26T10:00:00", "2026-11-26T10:00:00Zx", "2026-11-26T10:00:00.1234+00:00"}
}

func TestPlainTimeAgreesWithTheSchemaOnSeeds(t *testing.T) {
	v := newValidator(t)
	accepted := 0
	for _, s := range timeSeeds() {
		checkPlainTime(t, v, s)
		if _, ok := plainTime(s); ok {
			accepted++
		}
	}
	if accepted < 5 {
		t.Fatalf("plainTime accepted only %d of the seeds", accepted)
	}
}

// FuzzPlainTimeIsASchemaDateTime is the differential test of the time check
// fastAccept runs in place of the library's date-time format.
func FuzzPlainTimeIsASchemaDateTime(f *testing.F) {
	for _, s := range timeSeeds() {
		f.Add(s)
	}
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, s string) { checkPlainTime(t, v, s) })
}

// FuzzDecodeAgreesWithTheCheckedPath holds the request decoder, one-pass
// scanner first, to the path of separate checks it short-cuts: the same
// items or the same request-level error (status, code, message, offset).
func FuzzDecodeAgreesWithTheCheckedPath(f *testing.F) {
	for _, s := range scanSeeds() {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(2), []byte("["+s+","+s+"]"))
	}
	v := newValidator(f)
	lim := Limits{MaxEventBytes: 200, MaxEvents: 3, MaxDepth: 4}
	now := time.Unix(7, 0)
	f.Fuzz(func(t *testing.T, format uint8, body []byte) {
		fm := []Format{FormatJSON, FormatStructured, FormatBatch}[format%3]
		items, err := v.decode(fm, nil, body, lim, now)
		wantItems, wantErr := v.decodeChecked(fm, body, lim, now)
		// A rejected event's half-filled Event depends on map order (finish
		// stops at a bad time): only its ID, size and reason are answered.
		for _, its := range [][]Item{items, wantItems} {
			for i := range its {
				if its[i].Reject != nil {
					its[i].Event = schemas.Event{}
				}
			}
		}
		sameNameRejects(items, wantItems)
		if !reflect.DeepEqual(err, wantErr) || !reflect.DeepEqual(items, wantItems) {
			t.Fatalf("format %d body %q:\n decode  %+v %+v\n checked %+v %+v", fm, body, items, err, wantItems, wantErr)
		}
	})
}

// badName is the schema library's refusal of a property name.
var badName = regexp.MustCompile(`^event: '(.*)' does not match pattern '(.*)'$`)

// sameNameRejects lets the checked path name another bad property than the
// decoder: the library walks an event's properties in Go's map order, so of
// several names refused by the same pattern it names any one (a run saw
// ” and '2,7729' of one event by turns). When both refusals name a
// property of that event that the pattern refuses, the checked one is set
// to the decoder's; any other difference still fails.
func sameNameRejects(items, checked []Item) {
	for i := range min(len(items), len(checked)) {
		a, b := items[i].Reject, checked[i].Reject
		if a == nil || b == nil || *a == *b {
			continue
		}
		ma, mb := badName.FindStringSubmatch(a.Message), badName.FindStringSubmatch(b.Message)
		if ma == nil || mb == nil || ma[2] != mb[2] || a.Code != b.Code || a.Pointer != b.Pointer {
			continue
		}
		var props map[string]json.RawMessage
		pattern, err := regexp.Compile(ma[2])
		if err != nil || json.Unmarshal(items[i].Raw, &props) != nil {
			continue
		}
		_, hasA := props[ma[1]]
		_, hasB := props[mb[1]]
		if hasA && hasB && !pattern.MatchString(ma[1]) && !pattern.MatchString(mb[1]) {
			checked[i].Reject = a
		}
	}
}
