package api

import (
	"net/url"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
)

var testMeter = tenancy.Meter{Slug: "tokens", MeterSpec: tenancy.MeterSpec{EventTypes: []string{"llm.call"}, Aggregation: tenancy.AggSum, ValuePath: "$.tokens",
	GroupBy: map[string]string{"model": "$.model", "who": "subject"}}}

func TestMeterParametersAreCheckedAndNamed(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query, param, code string
	}{
		{"colour=red", "colour", CodeUnknownParameter},
		{"window=week", "window", CodeInvalidParameter},
		{"time_zone=Mars/Olympus", "time_zone", CodeInvalidParameter},
		{"time_zone=Local", "time_zone", CodeInvalidParameter},
		{"group_by=model,country", "group_by", CodeInvalidParameter},
		{"filter[country]=de", "filter[country]", CodeInvalidParameter},
		{"filter[model]=", "filter[model]", CodeInvalidParameter},
		{"from=2026-11-27T00:00:00Z&to=2026-11-26T00:00:00Z", "from", CodeInvalidTimeRange},
		{"from=yesterday", "from", CodeInvalidParameter},
		{"to=2107-01-01T00:00:00Z&from=2106-12-01T00:00:00Z", "to", CodeInvalidTimeRange},
		{"window=minute&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "window", CodeTooManyBuckets},
		{"window=day&window=hour", "window", CodeInvalidParameter},
	}
	for _, tt := range tests {
		v, _ := url.ParseQuery(tt.query)
		_, aerr := parseMeterQuery(v, testMeter, now)
		if aerr == nil || aerr.Parameter != tt.param || aerr.Code != tt.code || aerr.Status != 400 {
			t.Errorf("%s: %+v, want 400 %s naming %s", tt.query, aerr, tt.code, tt.param)
		}
	}
	v, _ := url.ParseQuery("window=day&time_zone=Europe/Berlin&group_by=who,model,who&filter[model]=a&filter[model]=b")
	q, aerr := parseMeterQuery(v, testMeter, now)
	if aerr != nil || q.Location.String() != "Europe/Berlin" || len(q.GroupBy) != 2 || q.GroupBy[0] != "who" || len(q.Filters["model"]) != 2 ||
		!q.To.Equal(now) || !q.From.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("parsed %+v, %v", q, aerr)
	}
}
