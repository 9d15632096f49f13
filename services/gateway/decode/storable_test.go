package decode

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// storableCases are JSON values at and around the limits of PostgreSQL jsonb.
func storableCases() []string {
	return []string{
		`{"k":"a\u0000b"}`, `"\u0000"`, `"\\u0000"`, `"\u0001"`, `{"\u0000":1}`,
		`"\ud800"`, `"\udc00"`, `"\ud83d\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\\ud800"`,
		`1e131071`, `1e131072`, `9e131071`, `-1e131071`, `0.1e131072`, `0.01e131073`, `0e999999`, `0.0e-20000`,
		`1e-16383`, `1e-16384`, `10e-16384`, `1.5e-16382`, `1e99999999999999999999`, `1E+5`, `[1e999999]`,
		strings.Repeat("9", 131072), strings.Repeat("9", 131073), "0." + strings.Repeat("1", 16383), "0." + strings.Repeat("1", 16384),
		`{"a":[true,false,null,"e","E",1.5e3]}`, `"e\\E"`, `0`, `-0.0`,
	}
}

func TestUnstorableRefusesExactlyWhatPostgresJSONBRefuses(t *testing.T) {
	url := testenv.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, v := range storableCases() {
		var n int
		pgErr := conn.QueryRow(ctx, `SELECT length($1::text::jsonb::text)`, v).Scan(&n)
		why := unstorable([]byte(v))
		if (pgErr == nil) != (why == "") {
			t.Errorf("%.40s: unstorable says %q, PostgreSQL says %v", v, why, pgErr)
		}
	}
}

func TestUnstorableValuesRejectOnlyTheirEvent(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	body := `[{"specversion":"1.0","id":"ok","type":"t","source":"/s","data":{"n":1e5}},
		{"specversion":"1.0","id":"nul","type":"t","source":"/s","data":{"k":"\u0000"}},
		{"specversion":"1.0","id":"big","type":"t","source":"/s","data":[1e999999]},
		{"specversion":"1.0","id":"ext","type":"t","source":"/s","num":1e999999}]`
	items, aerr := v.Decode(FormatJSON, nil, []byte(body), Limits{MaxEventBytes: 1 << 20, MaxEvents: 10, MaxDepth: 16}, time.Now())
	if aerr != nil {
		t.Fatal(aerr)
	}
	want := map[string]string{"ok": "", "nul": CodeUnstorable, "big": CodeUnstorable, "ext": CodeUnstorable}
	for _, it := range items {
		got := ""
		if it.Reject != nil {
			got = it.Reject.Code
		}
		if got != want[it.ID] {
			t.Errorf("%s: reject %q, want %q", it.ID, got, want[it.ID])
		}
	}
}

// FuzzUnstorableNeverPanicsAndPassesWhatItCannotRefuse feeds arbitrary bytes
// to the jsonb check: it never panics, and a value without escapes or
// exponents that is too short for an out-of-range number always passes.
func FuzzUnstorableNeverPanicsAndPassesWhatItCannotRefuse(f *testing.F) {
	for _, v := range storableCases() {
		if len(v) < 100 { // the long ones only slow the mutator down
			f.Add([]byte(v))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		why := unstorable(b)
		if why != "" && len(b) <= pgMaxScaleDigits && !strings.ContainsAny(string(b), `\eE`) {
			t.Fatalf("%q refused (%s) though it holds no escape, no exponent and too few digits", b, why)
		}
	})
}
