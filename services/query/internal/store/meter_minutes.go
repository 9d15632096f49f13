package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
)

// A built meter whose aggregation is count, sum, avg, min, max or
// unique_count reads the per-minute rollup meter_minutes (migrations
// clickhouse/00060 and 00090) for the whole minutes of its range that hold
// no erased event of its version, and meter_values for the rest: the
// partial minutes at the range's ends and the minutes with erasures (a
// minute's min, max or set of values cannot be taken back, so those are
// computed again from the live rows). Both parts yield partial aggregates
// per window and group (events, skipped, values, their sum, min and max,
// and for unique_count the state of uniqExact over the values' hashes),
// which the outer query combines.

// fromMinutes reports whether a built meter with this aggregation reads
// meter_minutes.
func fromMinutes(agg string) bool {
	return slices.Contains([]string{tenancy.AggCount, tenancy.AggSum, tenancy.AggAvg, tenancy.AggMin, tenancy.AggMax, tenancy.AggUniqueCount}, agg)
}

// minutesSQL renders q over meter_minutes and meter_values.
func minutesSQL(tenant string, q MeterQuery, erasures bool) (string, []any, error) {
	v := MeterVersion(tenant, q.Meter)
	names := dimensionNames(q.Meter)
	col := func(dim string) (string, error) {
		i := slices.Index(names, dim)
		if i < 0 {
			return "", fmt.Errorf("meter %s has no dimension %q", q.Meter.Slug, dim)
		}
		return "g" + strconv.Itoa(i), nil
	}
	keys := []string{"w"}
	groups := make([]string, len(q.GroupBy))
	for i, d := range q.GroupBy {
		c, err := col(d)
		if err != nil {
			return "", nil, err
		}
		groups[i] = fmt.Sprintf("%s AS g_%d", c, i)
		keys = append(keys, "g_"+strconv.Itoa(i))
	}
	filters, fargs, err := q.dimFilters(col)
	if err != nil {
		return "", nil, err
	}
	tz := q.Location.String()
	erasedMinutes := "toDateTime(toStartOfMinute(event_time), 'UTC') IN (SELECT toDateTime(toStartOfMinute(event_time), 'UTC') FROM meter_values WHERE tenant_id = ? AND version = ? AND sign = -1)"
	fromM, toM := ceilMinute(q.From), q.To.Truncate(time.Minute).Unix()

	rollup := []string{"tenant_id = ?", "version = ?", "minute >= toDateTime(?, 'UTC')", "minute < toDateTime(?, 'UTC')"}
	rargs := []any{tenant, v, fromM, toM}
	raw := []string{"tenant_id = ?", "version = ?", "sign = 1",
		"event_time >= fromUnixTimestamp64Milli(?, 'UTC')", "event_time < fromUnixTimestamp64Milli(?, 'UTC')"}
	wargs := []any{tenant, v, q.From.UnixMilli(), q.To.UnixMilli()}
	rest := "event_time < toDateTime(?, 'UTC') OR event_time >= toDateTime(?, 'UTC')"
	if erasures {
		rollup = append(rollup, "NOT "+strings.Replace(erasedMinutes, "toDateTime(toStartOfMinute(event_time), 'UTC')", "minute", 1))
		rargs = append(rargs, tenant, v)
		raw = append(raw, "("+rest+" OR "+erasedMinutes+")",
			"external_id NOT IN (SELECT external_id FROM meter_values WHERE tenant_id = ? AND version = ? AND sign = -1)")
		wargs = append(wargs, fromM, toM, tenant, v, tenant, v)
	} else {
		raw = append(raw, "("+rest+")")
		wargs = append(wargs, fromM, toM)
	}
	sel := func(bucket string) string {
		return strings.Join(append([]string{"toInt64(" + bucket + ") AS w"}, groups...), ", ")
	}
	// A version extracts num or h (or neither, for count): skipped counts
	// the rows with neither, as meter_minutes_mv does.
	hashesA, hashesB := "", ""
	if q.Meter.Aggregation == tenancy.AggUniqueCount {
		hashesA, hashesB = ", uniqExactArrayState(CAST(u, 'Array(UInt128)')) AS u", ", uniqExactArrayState(if(isNull(h), [], [assumeNotNull(h)])) AS u"
	}
	partA := "SELECT " + sel(bucketExprOf("minute", q.Window, tz)) +
		", sum(events) AS n, sum(skipped) AS s, sum(valued) AS k, sum(total) AS t, min(lo) AS mn, max(hi) AS mx" + hashesA + " FROM meter_minutes WHERE " +
		strings.Join(append(rollup, filters...), " AND ") + " GROUP BY " + strings.Join(keys, ", ")
	partB := "SELECT " + sel(bucketExprOf("event_time", q.Window, tz)) +
		", count() AS n, countIf(num IS NULL AND h IS NULL) AS s, count(num) AS k, sum(ifNull(num, 0)) AS t, ifNull(min(num), inf) AS mn, ifNull(max(num), -inf) AS mx" +
		hashesB + " FROM meter_values WHERE " + strings.Join(append(raw, filters...), " AND ") + " GROUP BY " + strings.Join(keys, ", ")
	args := append(append(append(rargs, fargs...), wargs...), fargs...)

	value, skipped := minutesAggregate(q.Meter.Aggregation)
	outKeys := keys[1:]
	if q.Window != "" {
		outKeys = keys
	}
	out := []string{"toInt64(0)"}
	if q.Window != "" {
		out[0] = "w"
	}
	for i := range q.GroupBy {
		out = append(out, "g_"+strconv.Itoa(i))
	}
	sql := "SELECT " + strings.Join(out, ", ") + ", toNullable(toFloat64(" + value + ")) AS value, toUInt64(sum(n)) AS events, " + skipped + " AS skips FROM (" +
		partA + " UNION ALL " + partB + ")"
	if len(outKeys) > 0 {
		sql += " GROUP BY " + strings.Join(outKeys, ", ") + " ORDER BY " + strings.Join(outKeys, ", ")
	}
	if q.MaxRows > 0 {
		sql += " LIMIT " + strconv.Itoa(q.MaxRows+1)
	}
	return sql, args, nil
}

// minutesAggregate combines the partial aggregates.
func minutesAggregate(agg string) (string, string) {
	skipped := "toUInt64(sum(s))"
	switch agg {
	case tenancy.AggCount:
		return "sum(n)", "toUInt64(0)"
	case tenancy.AggSum:
		return "if(sum(k) = 0, NULL, sum(t))", skipped
	case tenancy.AggAvg:
		return "if(sum(k) = 0, NULL, sum(t) / sum(k))", skipped
	case tenancy.AggMin:
		return "if(sum(k) = 0, NULL, minIf(mn, k > 0))", skipped
	case tenancy.AggUniqueCount:
		return "uniqExactArrayMerge(u)", skipped
	}
	return "if(sum(k) = 0, NULL, maxIf(mx, k > 0))", skipped
}

// dimFilters renders the meter's and the query's filters over the columns
// col names.
func (q MeterQuery) dimFilters(col func(string) (string, error)) ([]string, []any, error) {
	var w []string
	var args []any
	for _, f := range []map[string][]string{q.Meter.Filters, q.Filters} {
		for dim, vals := range f {
			c, err := col(dim)
			if err != nil {
				return nil, nil, err
			}
			w = append(w, "has(?, ifNull("+c+", ''))")
			args = append(args, vals)
		}
	}
	return w, args, nil
}

// ceilMinute is t rounded up to a whole minute, in Unix seconds.
func ceilMinute(t time.Time) int64 {
	m := t.Truncate(time.Minute)
	if m.Before(t) {
		m = m.Add(time.Minute)
	}
	return m.Unix()
}
