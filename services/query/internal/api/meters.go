package api

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones also in an image without /usr/share/zoneinfo

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/tenancy"
)

// MeterDefinitions reads a tenant's meter definitions (tenancy.PGStore).
type MeterDefinitions interface {
	Meter(ctx context.Context, tenant, slug string) (tenancy.Meter, error)
	ListMeters(ctx context.Context, tenant string) ([]tenancy.Meter, error)
}

// MeterStore computes meters (the ClickHouse store).
type MeterStore interface {
	Meter(ctx context.Context, tenant string, q store.MeterQuery) ([]store.MeterRow, error)
}

// Meter limits and codes.
const (
	MaxMeterRows     = 100_000
	CodeMeterUnknown = "meter_not_found"
	CodeTooManyRows  = "too_many_rows"
	csvType          = "text/csv"
)

// meterRoutes adds GET /v1/meters and GET /v1/meters/{slug}/query.
func (a *API) meterRoutes(v1 *gin.RouterGroup) {
	v1.GET("/meters", a.listMeters)
	v1.GET("/meters/:slug/query", a.queryMeter)
}

// MeterInfo is a meter as its tenant sees it.
type MeterInfo struct {
	Slug string `json:"slug"`
	tenancy.MeterSpec
	UpdatedAt time.Time `json:"updated_at"`
}

func (a *API) listMeters(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	ms, err := a.d.MeterDefs.ListMeters(ctx, tenant)
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	out := make([]MeterInfo, len(ms))
	for i, m := range ms {
		out[i] = MeterInfo{Slug: m.Slug, MeterSpec: m.MeterSpec, UpdatedAt: m.UpdatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"meters": out})
}

// MeterAnswer is the answer of GET /v1/meters/{slug}/query.
type MeterAnswer struct {
	Meter       string           `json:"meter"`
	Aggregation string           `json:"aggregation"`
	From        time.Time        `json:"from"`
	To          time.Time        `json:"to"`
	Window      string           `json:"window,omitempty"`
	TimeZone    string           `json:"time_zone"`
	GroupBy     []string         `json:"group_by"`
	Events      uint64           `json:"events"`
	Skipped     uint64           `json:"skipped"`
	Rows        []store.MeterRow `json:"rows"`
}

func (a *API) queryMeter(c *gin.Context) {
	tenant, ok := tenantOf(c)
	if !ok {
		return
	}
	ctx, cancel := a.queryCtx(c)
	defer cancel()
	slug := c.Param("slug")
	if tenancy.ValidateMeterSlug(slug) != nil {
		apierror.Abort(c, apierror.New(http.StatusNotFound, CodeMeterUnknown, "no such meter"))
		return
	}
	m, err := a.d.MeterDefs.Meter(ctx, tenant, slug)
	if errors.Is(err, tenancy.ErrMeterNotFound) {
		apierror.Abort(c, apierror.New(http.StatusNotFound, CodeMeterUnknown, "no such meter"))
		return
	}
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	q, aerr := parseMeterQuery(c.Request.URL.Query(), m, a.d.Now())
	if aerr != nil {
		apierror.Abort(c, aerr)
		return
	}
	rows, err := a.d.Meters.Meter(ctx, tenant, q)
	if errors.Is(err, store.ErrTooManyRows) {
		apierror.Abort(c, bad("group_by", CodeTooManyRows, "the answer has more than %d rows: group by fewer dimensions, filter, or use a longer window or a shorter range", MaxMeterRows))
		return
	}
	if err != nil {
		a.fail(ctx, c, err)
		return
	}
	ans := meterAnswer(q, rows)
	if c.NegotiateFormat(gin.MIMEJSON, csvType) == csvType {
		writeMeterCSV(c, ans)
		return
	}
	c.JSON(http.StatusOK, ans)
}

func meterAnswer(q store.MeterQuery, rows []store.MeterRow) MeterAnswer {
	ans := MeterAnswer{Meter: q.Meter.Slug, Aggregation: q.Meter.Aggregation, From: q.From.In(q.Location), To: q.To.In(q.Location),
		Window: q.Window, TimeZone: q.Location.String(), GroupBy: q.GroupBy, Rows: rows}
	if ans.GroupBy == nil {
		ans.GroupBy = []string{}
	}
	for i := range rows {
		r := &rows[i]
		if r.Value != nil && (math.IsInf(*r.Value, 0) || math.IsNaN(*r.Value)) {
			r.Value = nil // JSON has no infinity: a sum beyond float64's range
		}
		r.WindowStart, r.WindowEnd = r.WindowStart.In(q.Location), r.WindowEnd.In(q.Location)
		ans.Events += r.Events
		ans.Skipped += r.Skipped
	}
	return ans
}

// writeMeterCSV answers with one header line and a line per row: window
// bounds, one column per group_by dimension (empty when the event has
// none), value (empty when none), events, skipped.
func writeMeterCSV(c *gin.Context, ans MeterAnswer) {
	c.Header("Content-Type", csvType+"; charset=utf-8")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.Write(append(append([]string{"window_start", "window_end"}, ans.GroupBy...), "value", "events", "skipped"))
	for _, r := range ans.Rows {
		line := []string{r.WindowStart.Format(time.RFC3339), r.WindowEnd.Format(time.RFC3339)}
		for _, d := range ans.GroupBy {
			line = append(line, deref(r.Group[d]))
		}
		val := ""
		if r.Value != nil {
			val = strconv.FormatFloat(*r.Value, 'g', -1, 64)
		}
		_ = w.Write(append(line, val, strconv.FormatUint(r.Events, 10), strconv.FormatUint(r.Skipped, 10)))
	}
	w.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var meterKnown = []string{"from", "to", "window", "time_zone", "group_by"}

// parseMeterQuery reads the parameters of GET /v1/meters/{slug}/query for
// meter m; now is the default end (the range defaults as in /v1/stats).
func parseMeterQuery(v url.Values, m tenancy.Meter, now time.Time) (store.MeterQuery, *apierror.Error) {
	q := store.MeterQuery{Meter: m, MaxRows: MaxMeterRows, Location: time.UTC}
	for k := range v {
		if !slices.Contains(meterKnown, k) && !isFilterParam(k) {
			return q, bad(paramName(k), CodeUnknownParameter, "unknown parameter %q", paramName(k))
		}
	}
	var f store.Filter
	var aerr *apierror.Error
	if f.From, aerr = parseTime(v, "from"); aerr != nil {
		return q, aerr
	}
	if f.To, aerr = parseTime(v, "to"); aerr != nil {
		return q, aerr
	}
	if aerr = defaultRange(&f, now); aerr != nil {
		return q, aerr
	}
	if f.To.Year() >= 2106 {
		return q, bad("to", CodeInvalidTimeRange, "to must be before 2106")
	}
	q.From, q.To = f.From, f.To
	if aerr = parseWindow(v, &q); aerr != nil {
		return q, aerr
	}
	if q.GroupBy, aerr = parseMeterGroupBy(v, m); aerr != nil {
		return q, aerr
	}
	q.Filters, aerr = parseMeterFilters(v, m)
	return q, aerr
}

func parseWindow(v url.Values, q *store.MeterQuery) *apierror.Error {
	var aerr *apierror.Error
	if q.Window, aerr = single(v, "window"); aerr != nil {
		return aerr
	}
	if q.Window != "" && !slices.Contains(store.MeterWindows, q.Window) {
		return bad("window", CodeInvalidParameter, "window must be minute, hour, day or month")
	}
	if width, ok := store.IntervalMillis[q.Window]; ok {
		if n := (q.To.UnixMilli() - q.From.UnixMilli()) / width; n > maxStatsBuckets {
			return bad("window", CodeTooManyBuckets, "the range holds %d %s windows; at most %d: use a longer window or a shorter range", n, q.Window, maxStatsBuckets)
		}
	}
	tz, aerr := single(v, "time_zone")
	if aerr != nil || tz == "" {
		return aerr
	}
	// LoadLocation also takes "Local" and file paths; only IANA names pass.
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return bad("time_zone", CodeInvalidParameter, "time_zone must be an IANA time zone such as Europe/Berlin")
	}
	q.Location = loc
	return nil
}

func parseMeterGroupBy(v url.Values, m tenancy.Meter) ([]string, *apierror.Error) {
	raw, aerr := single(v, "group_by")
	if aerr != nil || raw == "" {
		return nil, aerr
	}
	var dims []string
	for _, d := range strings.Split(raw, ",") {
		d = strings.TrimSpace(d)
		if _, ok := m.GroupBy[d]; !ok {
			return nil, bad("group_by", CodeInvalidParameter, "%q is not a dimension of meter %s (%s)", paramName(d), m.Slug, dimList(m))
		}
		if !slices.Contains(dims, d) {
			dims = append(dims, d)
		}
	}
	return dims, nil
}

// isFilterParam reports whether k reads filter[<dimension>].
func isFilterParam(k string) bool {
	return strings.HasPrefix(k, "filter[") && strings.HasSuffix(k, "]")
}

// parseMeterFilters reads filter[<dimension>]=<value>, repeatable (any of
// the values matches).
func parseMeterFilters(v url.Values, m tenancy.Meter) (map[string][]string, *apierror.Error) {
	var out map[string][]string
	for k, vals := range v {
		if !isFilterParam(k) {
			continue
		}
		dim := k[len("filter[") : len(k)-1]
		if _, ok := m.GroupBy[dim]; !ok {
			return nil, bad(paramName(k), CodeInvalidParameter, "%q is not a dimension of meter %s (%s)", paramName(dim), m.Slug, dimList(m))
		}
		if len(vals) > tenancy.MaxMeterFilterVals {
			return nil, bad(paramName(k), CodeInvalidParameter, "at most %d values per filter", tenancy.MaxMeterFilterVals)
		}
		for _, val := range vals {
			if err := checkString(paramName(k), val); err != nil {
				return nil, err
			}
			if val == "" {
				return nil, bad(paramName(k), CodeInvalidParameter, "%s must not be empty", paramName(k))
			}
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[dim] = vals
	}
	return out, nil
}

func dimList(m tenancy.Meter) string {
	if len(m.GroupBy) == 0 {
		return "it has none"
	}
	names := make([]string, 0, len(m.GroupBy))
	for n := range m.GroupBy {
		names = append(names, n)
	}
	slices.Sort(names)
	return "its dimensions: " + strings.Join(names, ", ")
}
