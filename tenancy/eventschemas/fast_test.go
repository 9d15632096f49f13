package eventschemas

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// fastSchemas exercise every keyword the fast path knows, and some it must
// leave to the library.
var fastSchemas = []string{
	orderV1,
	`{"type":"object","required":["seq","user","amount","country","currency","status","customer"],"additionalProperties":false,"properties":{
	  "seq":{"type":"integer","minimum":0},"user":{"type":"string","pattern":"^u-[0-9]+$"},"amount":{"type":"integer","minimum":0,"maximum":1000000},
	  "country":{"enum":["DE","FR","GB","US"]},"currency":{"enum":["EUR","USD","GBP"]},"status":{"const":"paid"},
	  "customer":{"type":"object","required":["id","tier"],"additionalProperties":false,
	   "properties":{"id":{"type":"string","minLength":1,"maxLength":8},"tier":{"enum":["gold","silver"]},"email":{"type":"string","format":"email"}}},
	  "coupon":{"type":["string","null"],"maxLength":4},"gift":{"type":"boolean"},"pad":{"type":"string"}}}`,
	`{"type":["integer","string"],"minimum":-3,"maximum":3,"minLength":2}`,
	`{"type":"number","maximum":10}`,
	`{"properties":{"a":false,"b":true,"c":{"type":"array"},"d":{"enum":["x",1]},"e":{"$ref":"#"}},"additionalProperties":{"type":"integer"}}`,
	`{"type":"object","minProperties":1}`,
	`true`,
	`false`,
}

var fastWords = []string{"seq", "user", "amount", "country", "currency", "status", "customer", "id", "tier", "email", "coupon", "gift", "pad",
	"order_id", "a", "b", "c", "d", "e", "DE", "EUR", "paid", "gold", "u-12", "x", "", "é", "u-", "silver", "GBP"}

var fastNumbers = []string{"0", "-0", "1", "-1", "3", "4", "-3", "-4", "12", "1000000", "1000001", "1.0", "1.5", "1e2", "-1E-2", "9223372036854775807",
	"9223372036854775808", "-9223372036854775809", "0.0000001", "10", "10.0", "11"}

// randValue makes a random JSON value biased towards the schemas' names,
// enums and bounds, with escapes, repeated names and odd numbers.
func randValue(r *rand.Rand, depth int) string {
	switch k := r.IntN(10); {
	case k < 3 && depth < 4:
		var b strings.Builder
		b.WriteByte('{')
		n := r.IntN(9)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			key := fastWords[r.IntN(len(fastWords))]
			if r.IntN(15) == 0 {
				key = `\u0073eq` // "seq", escaped
			}
			fmt.Fprintf(&b, "%q:%s", key, randValue(r, depth+1))
		}
		b.WriteByte('}')
		return b.String()
	case k == 3 && depth < 4:
		return "[" + randValue(r, depth+1) + "," + randValue(r, depth+1) + "]"
	case k < 6:
		s := fastWords[r.IntN(len(fastWords))]
		if r.IntN(10) == 0 {
			return `"\u0045UR"` // "EUR", escaped
		}
		q, _ := json.Marshal(s)
		return string(q)
	case k < 8:
		return fastNumbers[r.IntN(len(fastNumbers))]
	case k == 8:
		return []string{"true", "false"}[r.IntN(2)]
	}
	return "null"
}

// validOrder is an instance of fastSchemas[1] (so the fast path's accepting
// branches are reached, not only its refusals).
func validOrder(r *rand.Rand) string {
	return fmt.Sprintf(`{"seq":%d,"user":"u-%d","amount":%d,"country":"DE","currency":"EUR","status":"paid","customer":{"id":"c-%d","tier":"gold"},"gift":%v,"pad":"xyz"}`,
		r.IntN(1000), r.IntN(1000), r.IntN(1000000), r.IntN(100), r.IntN(2) == 0)
}

func checkFast(t testing.TB, s *Schema, doc, data string) bool {
	t.Helper()
	if !json.Valid([]byte(data)) || !utf8.ValidString(data) {
		return false
	}
	fast := s.fast.accepts([]byte(strings.TrimSpace(data)))
	if fast {
		if v := s.validate([]byte(data)); v != nil {
			t.Fatalf("schema %s\ndata %s\nthe fast path accepts, the library refuses: %+v", doc, data, v)
		}
	}
	return fast
}

// Whatever the fast path accepts, the library accepts: over random values
// of every schema, and over valid orders (most of which it must accept).
func TestFastPathNeverAcceptsWhatTheLibraryRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 19))
	accepted := 0
	for _, doc := range fastSchemas {
		s, err := Compile([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		for range 3000 {
			if checkFast(t, s, doc, randValue(r, 0)) {
				accepted++
			}
		}
	}
	s, _ := Compile([]byte(fastSchemas[1]))
	orders := 0
	for range 1000 {
		if checkFast(t, s, fastSchemas[1], validOrder(r)) {
			orders++
		}
	}
	if orders != 1000 || accepted == 0 {
		t.Fatalf("the fast path accepted %d of 1000 valid orders and %d random values", orders, accepted)
	}
}

func FuzzFastPathAgreesWithTheLibrary(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		f.Add(i%len(fastSchemas), randValue(r, 0))
	}
	f.Add(1, validOrder(r))
	f.Add(1, `{"seq":1,"seq":-1,"user":"u-1","amount":1,"country":"DE","currency":"EUR","status":"paid","customer":{"id":"c","tier":"gold"}}`)
	compiled := make([]*Schema, len(fastSchemas))
	for i, doc := range fastSchemas {
		s, err := Compile([]byte(doc))
		if err != nil {
			f.Fatal(err)
		}
		compiled[i] = s
	}
	f.Fuzz(func(t *testing.T, i int, data string) {
		if i < 0 {
			i = -i
		}
		checkFast(t, compiled[i%len(compiled)], fastSchemas[i%len(fastSchemas)], data)
	})
}
