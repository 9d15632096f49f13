package tenancy

import (
	"errors"
	"reflect"
	"testing"
)

func TestParsePathTakesTheDocumentedSubset(t *testing.T) {
	good := map[string][]PathSegment{
		"$.tokens":              {{Key: "tokens"}},
		"$.usage.input_tokens":  {{Key: "usage"}, {Key: "input_tokens"}},
		"$['a.b c']":            {{Key: "a.b c"}},
		"$.items[0].qty":        {{Key: "items"}, {Index: 0, IsIndex: true}, {Key: "qty"}},
		"$.a-b[12]":             {{Key: "a-b"}, {Index: 12, IsIndex: true}},
		"$['ü']['x']":           {{Key: "ü"}, {Key: "x"}},
		"$.a.b.c.d.e.f.g.h.i.j": {{Key: "a"}, {Key: "b"}, {Key: "c"}, {Key: "d"}, {Key: "e"}, {Key: "f"}, {Key: "g"}, {Key: "h"}, {Key: "i"}, {Key: "j"}},
	}
	for p, want := range good {
		got, err := ParsePath(p)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParsePath(%q) = %v, %v; want %v", p, got, err, want)
		}
	}
	for _, p := range []string{"", "$", "tokens", "$.", "$..a", "$.a.", "$[-1]", "$[+1]", "$[x]", "$[1", "$['a", "$['']", `$['a\b']`, "$['a'b']", "$.a b", "$.*",
		"$.a.b.c.d.e.f.g.h.i.j.k", "$['a\x00']"} {
		if got, err := ParsePath(p); err == nil {
			t.Errorf("ParsePath(%q) = %v, want an error", p, got)
		}
	}
}

func TestMeterSpecValidationNamesTheField(t *testing.T) {
	ok := MeterSpec{EventTypes: []string{"b", "a", "b"}, Aggregation: AggSum, ValuePath: "$.n", GroupBy: map[string]string{"who": "subject", "model": "$.model"},
		Filters: map[string][]string{"model": {"y", "x", "y"}}}
	got, err := ok.validate()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.EventTypes, []string{"a", "b"}) || !reflect.DeepEqual(got.Filters["model"], []string{"x", "y"}) {
		t.Fatalf("normalized spec %+v", got)
	}
	tests := []struct {
		field string
		spec  MeterSpec
	}{
		{"event_types", MeterSpec{Aggregation: AggCount}},
		{"event_types", MeterSpec{EventTypes: []string{""}, Aggregation: AggCount}},
		{"aggregation", MeterSpec{EventTypes: []string{"a"}, Aggregation: "median"}},
		{"value_path", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggSum}},
		{"value_path", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggCount, ValuePath: "$.n"}},
		{"value_path", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggP95, ValuePath: "n"}},
		{"group_by", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggCount, GroupBy: map[string]string{"Bad": "subject"}}},
		{"group_by", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggCount, GroupBy: map[string]string{"x": "time"}}},
		{"group_by", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggCount, GroupBy: map[string]string{"a": "type", "b": "type", "c": "type", "d": "type", "e": "type", "f": "type"}}},
		{"filters", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggCount, Filters: map[string][]string{"x": {"1"}}}},
		{"filters", MeterSpec{EventTypes: []string{"a"}, Aggregation: AggCount, GroupBy: map[string]string{"x": "type"}, Filters: map[string][]string{"x": {}}}},
		{"description", MeterSpec{Description: "a\nb", EventTypes: []string{"a"}, Aggregation: AggCount}},
	}
	for _, tt := range tests {
		_, err := tt.spec.validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("%+v: %v, want a validation error of %s", tt.spec, err, tt.field)
		}
	}
}
