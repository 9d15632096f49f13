package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/services/query/internal/cursor"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

// Limits of the query parameters.
const (
	DefaultLimit    = 100
	MaxLimit        = 1000
	maxTypes        = 50
	maxValueLen     = 1024
	maxDataLen      = 4096
	maxDataPaths    = 20
	maxPathDepth    = 10
	DefaultTop      = 10
	MaxTop          = 100
	maxStatsBuckets = 100_000
	statsDefaultWin = 24 * time.Hour
)

// Error codes of bad parameters (400, with the parameter named).
const (
	CodeInvalidParameter = "invalid_parameter"
	CodeUnknownParameter = "unknown_parameter"
	CodeInvalidTimeRange = "invalid_time_range"
	CodeInvalidCursor    = "invalid_cursor"
	CodeCursorMismatch   = "cursor_mismatch"
	CodeInvalidData      = "invalid_data_filter"
	CodeTooManyBuckets   = "too_many_buckets"
)

func bad(param, code, format string, args ...any) *apierror.Error {
	return apierror.BadParameter(param, code, fmt.Sprintf(format, args...))
}

// searchParams is a parsed search request before its cursor is checked.
type searchParams struct {
	query  store.SearchQuery
	cursor string
}

// digest identifies the query for its cursors: tenant, filters and order
// (not the page size, which may change from page to page).
func (p searchParams) digest(tenant string) [16]byte {
	q := p.query
	order := "desc"
	if q.Asc {
		order = "asc"
	}
	return cursor.Digest(tenant, strings.Join(q.Types, "\x00"), q.Source, q.Subject,
		fmtTime(q.From), fmtTime(q.To), string(q.Data), order)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// checkString refuses what PostgreSQL text cannot hold or no event can have.
func checkString(param, v string) *apierror.Error {
	if err := apierror.TextParameter(param, v); err != nil {
		return err
	}
	if len(v) > maxValueLen {
		return bad(param, CodeInvalidParameter, "%s is longer than %d bytes", param, maxValueLen)
	}
	return nil
}

// single returns the one value of param ("" when absent).
func single(v url.Values, param string) (string, *apierror.Error) {
	vals := v[param]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		if err := checkString(param, vals[0]); err != nil {
			return "", err
		}
		return vals[0], nil
	default:
		return "", bad(param, CodeInvalidParameter, "%s is given %d times; give it once", param, len(vals))
	}
}

func parseTime(v url.Values, param string) (time.Time, *apierror.Error) {
	s, aerr := single(v, param)
	if aerr != nil || s == "" {
		return time.Time{}, aerr
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, bad(param, CodeInvalidParameter, "%s must be an RFC 3339 time such as 2026-11-26T17:00:00Z", param)
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, bad(param, CodeInvalidParameter, "%s is out of range", param)
	}
	return t.UTC(), nil
}

// parseFilter reads type, source, subject, from and to.
func parseFilter(v url.Values) (store.Filter, *apierror.Error) {
	var f store.Filter
	for _, raw := range v["type"] {
		for _, t := range strings.Split(raw, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				return f, bad("type", CodeInvalidParameter, "type must not be empty")
			}
			if err := checkString("type", t); err != nil {
				return f, err
			}
			if !slices.Contains(f.Types, t) {
				f.Types = append(f.Types, t)
			}
		}
	}
	if len(f.Types) > maxTypes {
		return f, bad("type", CodeInvalidParameter, "at most %d types", maxTypes)
	}
	slices.Sort(f.Types)
	var aerr *apierror.Error
	if f.Source, aerr = single(v, "source"); aerr != nil {
		return f, aerr
	}
	if f.Subject, aerr = single(v, "subject"); aerr != nil {
		return f, aerr
	}
	if f.From, aerr = parseTime(v, "from"); aerr != nil {
		return f, aerr
	}
	if f.To, aerr = parseTime(v, "to"); aerr != nil {
		return f, aerr
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return f, bad("from", CodeInvalidTimeRange, "from (%s) is after to (%s)", fmtTime(f.From), fmtTime(f.To))
	}
	return f, nil
}

// checkKnown refuses parameters the endpoint does not take, so a typo
// ("tpye=") is an error instead of a silently unfiltered answer.
func checkKnown(v url.Values, known []string, dataPaths bool) *apierror.Error {
	for k := range v {
		if slices.Contains(known, k) || (dataPaths && strings.HasPrefix(k, "data.")) {
			continue
		}
		name := paramName(k)
		return bad(name, CodeUnknownParameter, "unknown parameter %q", name)
	}
	return nil
}

// paramName is k fit to be echoed in an error: valid UTF-8, short, not empty.
func paramName(k string) string {
	if k == "" || !utf8.ValidString(k) || len(k) > 64 {
		return "(unprintable parameter name)"
	}
	return k
}

var searchKnown = []string{"type", "source", "subject", "from", "to", "data", "order", "limit", "cursor"}

// parseSearch reads the parameters of GET /v1/events.
func parseSearch(v url.Values) (searchParams, *apierror.Error) {
	var p searchParams
	if err := checkKnown(v, searchKnown, true); err != nil {
		return p, err
	}
	f, aerr := parseFilter(v)
	if aerr != nil {
		return p, aerr
	}
	p.query.Filter = f
	if p.query.Data, aerr = parseData(v); aerr != nil {
		return p, aerr
	}
	order, aerr := single(v, "order")
	if aerr != nil {
		return p, aerr
	}
	switch order {
	case "", "desc":
	case "asc":
		p.query.Asc = true
	default:
		return p, bad("order", CodeInvalidParameter, "order must be asc or desc")
	}
	p.query.Limit = DefaultLimit
	ls, aerr := single(v, "limit")
	if aerr != nil {
		return p, aerr
	}
	if ls != "" {
		n, err := strconv.Atoi(ls)
		if err != nil || n < 1 || n > MaxLimit {
			return p, bad("limit", CodeInvalidParameter, "limit must be an integer from 1 to %d", MaxLimit)
		}
		p.query.Limit = n
	}
	if p.cursor, aerr = single(v, "cursor"); aerr != nil {
		return p, bad("cursor", CodeInvalidCursor, "cursor must be given once, as returned in next_cursor")
	}
	return p, nil
}

// parseData builds the data containment filter from `data` (a JSON object)
// and `data.<path>=<value>` parameters, merged into one canonical object
// (keys sorted by encoding/json). A path value is a JSON literal when it
// parses as one (42, true, null, "quoted"), else the plain string: so
// data.amount=42 matches the number 42 and data.amount="42" the string.
func parseData(v url.Values) (json.RawMessage, *apierror.Error) {
	var obj map[string]any
	raw, aerr := single(v, "data")
	if aerr != nil {
		return nil, bad("data", CodeInvalidData, "data is given more than once or is not valid UTF-8")
	}
	if raw != "" {
		if len(raw) > maxDataLen {
			return nil, bad("data", CodeInvalidData, "data is longer than %d bytes", maxDataLen)
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
			return nil, bad("data", CodeInvalidData, `data must be a JSON object, such as {"customer":"c-1"}`)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, bad("data", CodeInvalidData, "data has trailing characters after the JSON object")
		}
	}
	var paths []string
	for k := range v {
		if strings.HasPrefix(k, "data.") {
			paths = append(paths, k)
		}
	}
	if len(paths) > maxDataPaths {
		return nil, bad("data", CodeInvalidData, "at most %d data.<path> filters", maxDataPaths)
	}
	slices.Sort(paths)
	for _, k := range paths {
		name := paramName(k)
		val, aerr := single(v, k)
		if aerr != nil {
			return nil, bad(name, CodeInvalidData, "%s must be given once, as valid UTF-8", name)
		}
		segs := strings.Split(strings.TrimPrefix(k, "data."), ".")
		if len(segs) > maxPathDepth || slices.Contains(segs, "") || checkString(name, k) != nil {
			return nil, bad(name, CodeInvalidData, "a data path is data.<key>[.<key>...], at most %d keys deep, no empty keys, valid UTF-8", maxPathDepth)
		}
		if obj == nil {
			obj = map[string]any{}
		}
		if !setPath(obj, segs, literal(val)) {
			return nil, bad(name, CodeInvalidData, "%s conflicts with another data filter", name)
		}
	}
	if obj == nil {
		return nil, nil
	}
	if !jsonbSafe(obj) {
		return nil, bad("data", CodeInvalidData, "data filter holds a NUL character or a number out of range")
	}
	b, err := json.Marshal(obj)
	if err != nil || len(b) > 2*maxDataLen {
		return nil, bad("data", CodeInvalidData, "data filter is too large")
	}
	return b, nil
}

// jsonbSafe reports whether PostgreSQL's jsonb can take v: no NUL in
// strings or keys (jsonb refuses \u0000) and finite float64-range numbers.
func jsonbSafe(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || !jsonbSafe(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !jsonbSafe(e) {
				return false
			}
		}
	case string:
		return strings.IndexByte(x, 0) < 0
	case json.Number:
		_, err := strconv.ParseFloat(string(x), 64)
		return err == nil
	}
	return true
}

// literal returns s as a JSON value when it is a scalar JSON literal, else as a string.
func literal(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err == nil && !dec.More() {
		switch x.(type) {
		case map[string]any, []any:
		default:
			if _, err := dec.Token(); errors.Is(err, io.EOF) && len(bytes.TrimSpace([]byte(s))) == len(s) {
				return x
			}
		}
	}
	return s
}

func setPath(obj map[string]any, segs []string, val any) bool {
	for i, s := range segs {
		if i == len(segs)-1 {
			if _, exists := obj[s]; exists {
				return false
			}
			obj[s] = val
			return true
		}
		next, exists := obj[s]
		if !exists {
			m := map[string]any{}
			obj[s] = m
			obj = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return false
		}
		obj = m
	}
	return true
}

var statsKnown = []string{"type", "source", "subject", "from", "to", "interval", "group_by", "top", "unique_subjects"}

// parseStats reads the parameters of GET /v1/stats; now is the default end.
func parseStats(v url.Values, now time.Time) (store.StatsQuery, *apierror.Error) {
	var q store.StatsQuery
	if err := checkKnown(v, statsKnown, false); err != nil {
		return q, err
	}
	f, aerr := parseFilter(v)
	if aerr != nil {
		return q, aerr
	}
	if aerr = defaultRange(&f, now); aerr != nil {
		return q, aerr
	}
	q.Filter = f
	if q.Interval, aerr = single(v, "interval"); aerr != nil {
		return q, aerr
	}
	if q.Interval == "" {
		q.Interval = "hour"
	}
	width, ok := store.IntervalMillis[q.Interval]
	if !ok {
		return q, bad("interval", CodeInvalidParameter, "interval must be minute, hour or day")
	}
	if n := (f.To.UnixMilli() - f.From.UnixMilli()) / width; n > maxStatsBuckets {
		return q, bad("interval", CodeTooManyBuckets, "the range holds %d %s buckets; at most %d: use a longer interval or a shorter range", n, q.Interval, maxStatsBuckets)
	}
	if q.GroupBy, aerr = single(v, "group_by"); aerr != nil {
		return q, aerr
	}
	switch q.GroupBy {
	case "":
		q.GroupBy = "none"
	case "none", "type", "source":
	default:
		return q, bad("group_by", CodeInvalidParameter, "group_by must be type, source or none")
	}
	q.Top = DefaultTop
	ts, aerr := single(v, "top")
	if aerr != nil {
		return q, aerr
	}
	if ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 || n > MaxTop {
			return q, bad("top", CodeInvalidParameter, "top must be an integer from 0 to %d", MaxTop)
		}
		q.Top = n
	}
	switch us, aerr := single(v, "unique_subjects"); {
	case aerr != nil:
		return q, aerr
	case us == "false":
		q.NoSubjects = true
	case us != "" && us != "true":
		return q, bad("unique_subjects", CodeInvalidParameter, "unique_subjects must be true or false")
	}
	return q, nil
}

// SearchQuery returns the store query GET /v1/events runs for the first
// page of v (limit + 1 rows, as the handler asks), for EXPLAIN in
// benchmarks and investigations.
func SearchQuery(v url.Values) (store.SearchQuery, error) {
	p, aerr := parseSearch(v)
	if aerr != nil {
		return store.SearchQuery{}, aerr
	}
	p.query.Limit++
	return p.query, nil
}

// defaultRange fills a missing from or to of statistics and meters (the
// last 24 hours up to now) and checks the range: millisecond precision (the
// ClickHouse column's), not before 1970.
func defaultRange(f *store.Filter, now time.Time) *apierror.Error {
	switch {
	case f.From.IsZero() && f.To.IsZero():
		f.To = now.UTC().Truncate(time.Millisecond)
		f.From = f.To.Add(-statsDefaultWin)
	case f.From.IsZero():
		f.From = f.To.Add(-statsDefaultWin)
	case f.To.IsZero():
		f.To = now.UTC().Truncate(time.Millisecond)
		if f.From.After(f.To) {
			return bad("from", CodeInvalidTimeRange, "from (%s) is in the future; give to as well", fmtTime(f.From))
		}
	}
	if f.From.Truncate(time.Millisecond) != f.From || f.To.Truncate(time.Millisecond) != f.To {
		return bad("from", CodeInvalidTimeRange, "from and to have millisecond precision at most")
	}
	if f.From.After(f.To) {
		return bad("from", CodeInvalidTimeRange, "from (%s) is after to (%s)", fmtTime(f.From), fmtTime(f.To))
	}
	if f.From.UnixMilli() < 0 {
		return bad("from", CodeInvalidTimeRange, "from must not be before 1970")
	}
	return nil
}
