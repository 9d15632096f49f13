package eventschemas

import (
	"errors"
	"strings"
	"testing"
)

const orderV1 = `{"type":"object","required":["order_id","amount","customer"],"properties":{
	"order_id":{"type":"string"},"amount":{"type":"integer"},"currency":{"enum":["EUR","USD"]},
	"customer":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"email":{"type":"string","format":"email"}}}}}`

func TestCompileRefusesDocumentsNamingTheProblem(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"not JSON":          {`{"type":`, "not valid JSON"},
		"not a schema":      {`[1,2]`, "JSON object or a boolean"},
		"bad keyword value": {`{"type":12}`, "type"},
		"bad regex":         {`{"pattern":"(["}`, "pattern"},
		"remote ref":        {`{"$ref":"https://example.com/s.json"}`, "references outside the document are not allowed"},
		"file ref":          {`{"$ref":"file:///etc/passwd"}`, "references outside the document are not allowed"},
		"other draft":       {`{"$schema":"http://json-schema.org/draft-07/schema#"}`, "$schema must be"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile([]byte(tc.doc))
			var ce *CompileError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile(%s) = %v, want a CompileError containing %q", tc.doc, err, tc.want)
			}
		})
	}
}

func TestValidateReportsThePointerIntoTheEvent(t *testing.T) {
	s, err := Compile([]byte(orderV1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ data, pointer, msg string }{
		{`{"order_id":"o1","amount":12,"currency":"EUR","customer":{"id":"c1","email":"a@b.example"}}`, "", ""},
		{`{"order_id":"o1","amount":"12","customer":{"id":"c1"}}`, "/data/amount", "want integer"},
		{`{"order_id":"o1","amount":1,"currency":"GBP","customer":{"id":"c1"}}`, "/data/currency", "value must be one of"},
		{`{"order_id":"o1","amount":1,"customer":{"id":"c1","email":"nope"}}`, "/data/customer/email", "email"},
		{`{"order_id":"o1","amount":1,"customer":{}}`, "/data/customer", "missing property 'id'"},
		{``, "/data", "want object"},
	} {
		v := s.Validate([]byte(tc.data))
		if tc.pointer == "" {
			if v != nil {
				t.Errorf("%s: %+v, want valid", tc.data, v)
			}
			continue
		}
		if v == nil || v.Pointer != tc.pointer || !strings.Contains(v.Message, tc.msg) {
			t.Errorf("%s: %+v, want pointer %s and a message containing %q", tc.data, v, tc.pointer, tc.msg)
		}
	}
}

func TestPointerEscapesTokens(t *testing.T) {
	if got := Pointer("/data", []string{"a/b", "c~d", "0"}); got != "/data/a~1b/c~0d/0" {
		t.Fatalf("got %s", got)
	}
}

func TestIncompatibleFindsRequiredFieldsWhoseTypeBroke(t *testing.T) {
	for name, tc := range map[string]struct {
		new  string
		want []string
	}{
		"same":                 {orderV1, nil},
		"widened to number":    {strings.Replace(orderV1, `"amount":{"type":"integer"}`, `"amount":{"type":"number"}`, 1), nil},
		"widened to a union":   {strings.Replace(orderV1, `"amount":{"type":"integer"}`, `"amount":{"type":["integer","string"]}`, 1), nil},
		"any type":             {strings.Replace(orderV1, `"amount":{"type":"integer"}`, `"amount":{}`, 1), nil},
		"narrowed":             {strings.Replace(orderV1, `"order_id":{"type":"string"}`, `"order_id":{"type":"integer"}`, 1), []string{"/data/order_id: type string no longer allowed (now integer)"}},
		"nested type changed":  {strings.Replace(orderV1, `"id":{"type":"string"}`, `"id":{"type":"number"}`, 1), []string{"/data/customer/id: type string no longer allowed (now number)"}},
		"optional type change": {strings.Replace(orderV1, `"email":{"type":"string","format":"email"}`, `"email":{"type":"integer"}`, 1), nil},
		"removed, closed":      {`{"type":"object","additionalProperties":false,"required":["order_id"],"properties":{"order_id":{"type":"string"}}}`, []string{"/data/amount: required field removed while unknown properties are refused", "/data/customer: required field removed while unknown properties are refused"}},
	} {
		t.Run(name, func(t *testing.T) {
			got := Incompatible([]byte(orderV1), []byte(tc.new))
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
