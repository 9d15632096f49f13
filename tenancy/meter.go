package tenancy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Meters: analytics over the data of a tenant's events, defined per tenant
// (admin API, pulsectl; every change audited) and computed by the query
// service from the stored events at query time, so a changed definition
// applies to all history (services/query/README.md, "Meters").

// Aggregations of a meter.
const (
	AggCount       = "count"
	AggSum         = "sum"
	AggAvg         = "avg"
	AggMin         = "min"
	AggMax         = "max"
	AggUniqueCount = "unique_count"
	AggP50         = "p50"
	AggP90         = "p90"
	AggP95         = "p95"
	AggP99         = "p99"
)

// Aggregations lists every aggregation, in display order.
var Aggregations = []string{AggCount, AggSum, AggAvg, AggMin, AggMax, AggUniqueCount, AggP50, AggP90, AggP95, AggP99}

// AttributeDimensions are the dimensions that are event attributes rather
// than paths into data.
var AttributeDimensions = []string{"subject", "source", "type"}

// Limits of a meter definition.
const (
	MaxMeterDimensions  = 5
	MaxMeterEventTypes  = 20
	MaxMeterFilterVals  = 100
	MaxPathDepth        = 10
	maxDescriptionLen   = 500
	maxMeterValueLen    = 1024
	maxMeterPathLen     = 512
	maxEventTypeLen     = 256
	meterDimNamePattern = `^[a-z][a-z0-9_]{0,62}$`
)

var (
	meterSlugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	meterDimPattern  = regexp.MustCompile(meterDimNamePattern)
)

// MeterSpec is what an operator defines: which events a meter reads
// (EventTypes), how it aggregates (Aggregation over the value at ValuePath,
// a JSONPath subset into data: see ParsePath), the dimensions it can be
// grouped and filtered by (name → "subject", "source", "type" or a path into
// data) and fixed filters on those dimensions (every listed dimension must
// hold one of its values).
type MeterSpec struct {
	Description string              `json:"description,omitempty"`
	EventTypes  []string            `json:"event_types"`
	Aggregation string              `json:"aggregation"`
	ValuePath   string              `json:"value_path,omitempty"`
	GroupBy     map[string]string   `json:"group_by,omitempty"`
	Filters     map[string][]string `json:"filters,omitempty"`
}

// Meter is a stored definition.
type Meter struct {
	TenantID string `json:"tenant_id"`
	Slug     string `json:"slug"`
	MeterSpec
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Numeric reports whether the aggregation needs a numeric value (missing
// or non-numeric values are skipped and counted).
func Numeric(agg string) bool {
	return agg != AggCount && agg != AggUniqueCount
}

// Quantile is the level of a percentile aggregation (0 for the others).
func Quantile(agg string) float64 {
	switch agg {
	case AggP50:
		return 0.5
	case AggP90:
		return 0.9
	case AggP95:
		return 0.95
	case AggP99:
		return 0.99
	}
	return 0
}

// ValidateMeterSlug checks a meter's slug against ^[a-z0-9][a-z0-9_-]{0,62}$.
func ValidateMeterSlug(slug string) error {
	if !meterSlugPattern.MatchString(slug) {
		return invalid("slug", "meter slug %q must match ^[a-z0-9][a-z0-9_-]{0,62}$", slug)
	}
	return nil
}

// validate checks s and returns it normalized (event types sorted and
// distinct, filter values sorted and distinct); a *ValidationError names
// the offending field.
func (s MeterSpec) validate() (MeterSpec, error) {
	if len(s.Description) > maxDescriptionLen || strings.IndexFunc(s.Description, unicode.IsControl) >= 0 || !utf8.ValidString(s.Description) {
		return s, invalid("description", "must be at most %d bytes of UTF-8 without control characters", maxDescriptionLen)
	}
	types, err := distinctStrings("event_types", s.EventTypes, maxEventTypeLen)
	if err != nil {
		return s, err
	}
	if len(types) == 0 || len(types) > MaxMeterEventTypes {
		return s, invalid("event_types", "give 1 to %d event types", MaxMeterEventTypes)
	}
	s.EventTypes = types
	if !slices.Contains(Aggregations, s.Aggregation) {
		return s, invalid("aggregation", "must be one of %s, got %q", strings.Join(Aggregations, ", "), s.Aggregation)
	}
	switch {
	case s.Aggregation == AggCount && s.ValuePath != "":
		return s, invalid("value_path", "count counts events and takes no value_path")
	case s.Aggregation != AggCount && s.ValuePath == "":
		return s, invalid("value_path", "%s needs a value_path into data, such as $.tokens", s.Aggregation)
	case s.ValuePath != "":
		if _, err := ParsePath(s.ValuePath); err != nil {
			return s, invalid("value_path", "%v", err)
		}
	}
	if err := s.validateDimensions(); err != nil {
		return s, err
	}
	return s, nil
}

func (s *MeterSpec) validateDimensions() error {
	if len(s.GroupBy) > MaxMeterDimensions {
		return invalid("group_by", "at most %d dimensions", MaxMeterDimensions)
	}
	for name, src := range s.GroupBy {
		if !meterDimPattern.MatchString(name) {
			return invalid("group_by", "dimension name %q must match %s", name, meterDimNamePattern)
		}
		if slices.Contains(AttributeDimensions, src) {
			continue
		}
		if _, err := ParsePath(src); err != nil {
			return invalid("group_by", "dimension %s: give subject, source, type or a path into data: %v", name, err)
		}
	}
	for dim, vals := range s.Filters {
		if _, ok := s.GroupBy[dim]; !ok {
			return invalid("filters", "%q is not a dimension of the meter's group_by", dim)
		}
		vs, err := distinctStrings("filters", vals, maxMeterValueLen)
		if err != nil {
			return err
		}
		if len(vs) == 0 || len(vs) > MaxMeterFilterVals {
			return invalid("filters", "filter %s needs 1 to %d values", dim, MaxMeterFilterVals)
		}
		s.Filters[dim] = vs
	}
	return nil
}

// distinctStrings checks non-empty UTF-8 values of at most maxLen bytes
// without NUL and returns them sorted and distinct.
func distinctStrings(field string, in []string, maxLen int) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, v := range in {
		if v == "" || len(v) > maxLen || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return nil, invalid(field, "values must be 1 to %d bytes of UTF-8 without NUL", maxLen)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// PathSegment is one step of a path into data: an object key, or an array
// index (0-based) when IsIndex.
type PathSegment struct {
	Key     string
	Index   int
	IsIndex bool
}

// ParsePath parses the JSONPath subset meters use: $ followed by 1 to
// MaxPathDepth steps, each .key (letters, digits, _ and -), ['key'] (any
// characters but ' and \) or [n] (a 0-based array index).
func ParsePath(p string) ([]PathSegment, error) {
	if len(p) > maxMeterPathLen || !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("path %q must start with $ and be at most %d bytes, such as $.usage.tokens", p, maxMeterPathLen)
	}
	var segs []PathSegment
	rest := p[1:]
	for rest != "" {
		seg, n, err := nextSegment(rest)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		segs = append(segs, seg)
		rest = rest[n:]
	}
	if len(segs) == 0 || len(segs) > MaxPathDepth {
		return nil, fmt.Errorf("path %q must have 1 to %d steps after $", p, MaxPathDepth)
	}
	return segs, nil
}

func isKeyChar(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// nextSegment reads one step at the start of s and its length in bytes.
func nextSegment(s string) (PathSegment, int, error) {
	switch {
	case s[0] == '.':
		n := 1
		for n < len(s) && isKeyChar(s[n]) {
			n++
		}
		if n == 1 {
			return PathSegment{}, 0, fmt.Errorf("a .key needs letters, digits, _ or - (use ['key'] for others)")
		}
		return PathSegment{Key: s[1:n]}, n, nil
	case strings.HasPrefix(s, "['"):
		end := strings.Index(s[2:], "']")
		if end < 0 {
			return PathSegment{}, 0, fmt.Errorf("unterminated ['key']")
		}
		key := s[2 : 2+end]
		if key == "" || strings.ContainsAny(key, `'\`) || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
			return PathSegment{}, 0, fmt.Errorf("a ['key'] must be non-empty UTF-8 without ', \\ or NUL")
		}
		return PathSegment{Key: key}, end + 4, nil
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return PathSegment{}, 0, fmt.Errorf("unterminated [index]")
		}
		i, err := strconv.Atoi(s[1:end])
		if err != nil || i < 0 || i > 1_000_000 || s[1] == '+' {
			return PathSegment{}, 0, fmt.Errorf("an [index] is a number from 0 to 1000000")
		}
		return PathSegment{Index: i, IsIndex: true}, end + 1, nil
	}
	return PathSegment{}, 0, fmt.Errorf("unexpected %q: steps are .key, ['key'] or [n]", s[:1])
}
