package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

func TestSearchParametersParse(t *testing.T) {
	p, err := parseSearch(url.Values{
		"type": {"b,a", "c", "a"}, "source": {"shop"}, "subject": {"s"},
		"from": {"2026-11-26T10:00:00+01:00"}, "to": {"2026-11-26T12:00:00Z"},
		"data": {`{"x":{"y":1}}`}, "data.x.z": {"true"}, "data.w": {"plain"}, "data.q": {`"7"`},
		"order": {"asc"}, "limit": {"1000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := p.query
	if strings.Join(q.Types, ",") != "a,b,c" || q.Source != "shop" || q.Subject != "s" || !q.Asc || q.Limit != 1000 {
		t.Errorf("parsed %+v", q)
	}
	if !q.From.Equal(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)) || q.From.Location() != time.UTC {
		t.Errorf("from %v", q.From)
	}
	if string(q.Data) != `{"q":"7","w":"plain","x":{"y":1,"z":true}}` {
		t.Errorf("data %s", q.Data)
	}
	p2, _ := parseSearch(url.Values{})
	if p2.query.Limit != DefaultLimit || p2.query.Asc {
		t.Errorf("defaults %+v", p2.query)
	}
	// Same filters in another spelling give the same cursor digest.
	a, _ := parseSearch(url.Values{"type": {"x,y"}, "data": {`{"b":1,"a":2}`}})
	b, _ := parseSearch(url.Values{"type": {"y", "x"}, "data": {`{"a":2, "b":1}`}})
	if a.digest("t") != b.digest("t") || a.digest("t") == a.digest("u") {
		t.Error("digest depends on spelling or ignores the tenant")
	}
}

func TestBadParametersAre400NamingTheParameter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		stats bool
		q     url.Values
		param string
		code  string
	}{
		{"limit zero", false, url.Values{"limit": {"0"}}, "limit", CodeInvalidParameter},
		{"limit too big", false, url.Values{"limit": {"1001"}}, "limit", CodeInvalidParameter},
		{"limit text", false, url.Values{"limit": {"ten"}}, "limit", CodeInvalidParameter},
		{"from after to", false, url.Values{"from": {"2026-11-27T00:00:00Z"}, "to": {"2026-11-26T00:00:00Z"}}, "from", CodeInvalidTimeRange},
		{"bad from", false, url.Values{"from": {"yesterday"}}, "from", CodeInvalidParameter},
		{"bad to", false, url.Values{"to": {"2026-13-01T00:00:00Z"}}, "to", CodeInvalidParameter},
		{"data not json", false, url.Values{"data": {`{"a":`}}, "data", CodeInvalidData},
		{"data not object", false, url.Values{"data": {`[1]`}}, "data", CodeInvalidData},
		{"data trailing", false, url.Values{"data": {`{"a":1} x`}}, "data", CodeInvalidData},
		{"data path conflict", false, url.Values{"data": {`{"a":1}`}, "data.a.b": {"2"}}, "data.a.b", CodeInvalidData},
		{"data empty path", false, url.Values{"data..x": {"1"}}, "data..x", CodeInvalidData},
		{"data nul", false, url.Values{"data": {`{"a":"\u0000"}`}}, "data", CodeInvalidData},
		{"data huge number", false, url.Values{"data": {`{"a":1e999999}`}}, "data", CodeInvalidData},
		{"order", false, url.Values{"order": {"sideways"}}, "order", CodeInvalidParameter},
		{"unknown", false, url.Values{"tpye": {"x"}}, "tpye", CodeUnknownParameter},
		{"empty type", false, url.Values{"type": {"a,,b"}}, "type", CodeInvalidParameter},
		{"source twice", false, url.Values{"source": {"a", "b"}}, "source", CodeInvalidParameter},
		{"invalid utf8", false, url.Values{"subject": {"\xff"}}, "subject", CodeInvalidParameter},
		{"nul", false, url.Values{"source": {"a\x00"}}, "source", CodeInvalidParameter},
		{"interval", true, url.Values{"interval": {"week"}}, "interval", CodeInvalidParameter},
		{"group_by", true, url.Values{"group_by": {"subject"}}, "group_by", CodeInvalidParameter},
		{"top", true, url.Values{"top": {"101"}}, "top", CodeInvalidParameter},
		{"unique_subjects", true, url.Values{"unique_subjects": {"no"}}, "unique_subjects", CodeInvalidParameter},
		{"unique_subjects twice", true, url.Values{"unique_subjects": {"false", "true"}}, "unique_subjects", CodeInvalidParameter},
		{"stats from after to", true, url.Values{"from": {"2026-11-27T00:00:00Z"}, "to": {"2026-11-26T00:00:00Z"}}, "from", CodeInvalidTimeRange},
		{"stats from in future", true, url.Values{"from": {"2026-11-27T00:00:00Z"}}, "from", CodeInvalidTimeRange},
		{"stats micro precision", true, url.Values{"from": {"2026-11-25T00:00:00.0000001Z"}}, "from", CodeInvalidTimeRange},
		{"stats too many buckets", true, url.Values{"from": {"2000-01-01T00:00:00Z"}, "interval": {"minute"}}, "interval", CodeTooManyBuckets},
		{"stats data filter", true, url.Values{"data": {`{}`}}, "data", CodeUnknownParameter},
		{"stats cursor", true, url.Values{"cursor": {"x"}}, "cursor", CodeUnknownParameter},
	}
	for _, c := range cases {
		var err *apierror.Error
		if c.stats {
			_, err = parseStats(c.q, now)
		} else {
			_, err = parseSearch(c.q)
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if err.Status != 400 || err.Parameter != c.param || err.Code != c.code || err.Message == "" {
			t.Errorf("%s: got %d %s on %q (%s), want 400 %s on %q", c.name, err.Status, err.Code, err.Parameter, err.Message, c.code, c.param)
		}
	}
}

func TestStatsDefaultsToTheLast24HoursByHour(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 987654321, time.UTC)
	q, err := parseStats(url.Values{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !q.To.Equal(now.Truncate(time.Millisecond)) || q.To.Sub(q.From) != 24*time.Hour || q.Interval != "hour" || q.GroupBy != "none" || q.Top != DefaultTop || q.NoSubjects {
		t.Errorf("defaults %+v", q)
	}
	for v, no := range map[string]bool{"true": false, "false": true} {
		if q, err := parseStats(url.Values{"unique_subjects": {v}}, now); err != nil || q.NoSubjects != no {
			t.Errorf("unique_subjects=%s: NoSubjects %v (%v), want %v", v, q.NoSubjects, err, no)
		}
	}
}

// The API document says an empty value (`?limit=`) counts as absent; the
// fuzz step of make test sends such values for every typed parameter.
func TestEmptyParameterValuesCountAsAbsent(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	empty := func(names ...string) url.Values {
		v := url.Values{}
		for _, n := range names {
			v[n] = []string{""}
		}
		return v
	}
	got, err := parseSearch(empty("order", "limit", "from", "to", "cursor"))
	want, _ := parseSearch(url.Values{})
	if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("search with empty values: %+v (%v), want %+v", got, err, want)
	}
	gotStats, err := parseStats(empty("from", "to", "interval", "group_by", "top", "unique_subjects"), now)
	wantStats, _ := parseStats(url.Values{}, now)
	if err != nil || fmt.Sprintf("%+v", gotStats) != fmt.Sprintf("%+v", wantStats) {
		t.Errorf("stats with empty values: %+v (%v), want %+v", gotStats, err, wantStats)
	}
	gotMeter, err := parseMeterQuery(empty("from", "to", "window", "time_zone", "group_by"), testMeter, now)
	wantMeter, _ := parseMeterQuery(url.Values{}, testMeter, now)
	if err != nil || fmt.Sprintf("%+v", gotMeter) != fmt.Sprintf("%+v", wantMeter) {
		t.Errorf("meter query with empty values: %+v (%v), want %+v", gotMeter, err, wantMeter)
	}
}

// FuzzParseSearch: the parser never panics, every refusal is a 400 naming
// a parameter, and every accepted query is within the documented limits.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{
		"", "type=a,b&type=c&limit=5", "limit=1001", "from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z",
		`data={"a":{"b":[1,2]}}`, "data.a.b=1&data.a.c=x", "data.a=1&data.a.b=2", "order=asc&cursor=AAAA",
		"%ff=1", "type=%00", "data=" + url.QueryEscape(`{"a":1}{"b":2}`), "data.=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, aerr := parseSearch(v)
		if aerr != nil {
			if aerr.Status != 400 || aerr.Parameter == "" || aerr.Code == "" || !utf8.ValidString(aerr.Parameter) {
				t.Fatalf("refusal %+v", aerr)
			}
			return
		}
		q := p.query
		if q.Limit < 1 || q.Limit > MaxLimit || len(q.Types) > maxTypes {
			t.Fatalf("accepted out of limits: %+v", q)
		}
		if !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To) {
			t.Fatalf("accepted from after to: %+v", q)
		}
		if q.Data != nil {
			var m map[string]any
			if json.Unmarshal(q.Data, &m) != nil || m == nil {
				t.Fatalf("data filter is not a JSON object: %s", q.Data)
			}
		}
		for _, s := range append([]string{q.Source, q.Subject, p.cursor, string(q.Data)}, q.Types...) {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("accepted a value PostgreSQL cannot take: %q", s)
			}
		}
	})
}

// FuzzParseStats: same properties for the statistics parameters.
func FuzzParseStats(f *testing.F) {
	for _, s := range []string{"", "interval=minute&group_by=type&top=3", "from=2026-11-20T00:00:00Z", "interval=week", "top=-1", "from=1960-01-01T00:00:00Z"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, aerr := parseStats(v, now)
		if aerr != nil {
			if aerr.Status != 400 || aerr.Parameter == "" || aerr.Code == "" {
				t.Fatalf("refusal %+v", aerr)
			}
			return
		}
		if q.From.After(q.To) || q.From.UnixMilli() < 0 || q.Top < 0 || q.Top > MaxTop {
			t.Fatalf("accepted %+v", q)
		}
		if _, ok := map[string]bool{"minute": true, "hour": true, "day": true}[q.Interval]; !ok {
			t.Fatalf("interval %q", q.Interval)
		}
	})
}
