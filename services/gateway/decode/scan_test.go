package decode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// scanSeeds are bodies at the edges of what scanBody decides: every JSON
// token, nesting at the limit, bad escapes and UTF-8, white space the
// slow path trims but JSON does not allow.
func scanSeeds() []string {
	seeds := []string{
		``, ` `, `[]`, ` [ ] `, `{}`, `[{}]`, `[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`,
		`"x"`, `1`, `-0`, `-`, `01`, `1.`, `1.5e`, `1e+5`, `-0.0E-0`, `true`, `tru`, `nul`, `false `, `[true,false,null]`,
		`"\u00e9\n\"\\\/\b\f\r\t"`, `"\u12G4"`, `"\x"`, `"a` + "\x01" + `"`, `"a` + "\x7f" + `"`, "\"\xff\"", "\"\xc3\"", "[\"é\"]",
		"\xef\xbb\xbf[]", "\u00a0[]", "[]\u0085", "[1]\x00", "[1] [2]", `[[[[]]]]`, `[[[[[]]]]]`, `{"a":{"b":{"c":{}}}}`,
		`{"a":{"b":{"c":{"d":{}}}}}`, `["]"]`, `["[[[[[["]`, `{"id":"a","type":"t"}`, "[\n{\"id\":\"a\",\"type\":\"t\"}\r\n,\t{}]",
	}
	return append(seeds, agreementSeeds()...)
}

// checkScan holds scanBody to what it replaces: checkText, then json.Valid
// on the trimmed body, then arrayElems. The one difference by design: Unicode
// white space around the value (which bytes.TrimSpace trims and JSON does
// not allow) sends the body to the slow path, which decides as before.
func checkScan(t *testing.T, body []byte, maxDepth int) {
	t.Helper()
	val, raws, ok := scanBody(body, maxDepth, nil)
	trimmed := bytes.TrimSpace(body)
	jsonTrimmed := bytes.Trim(body, " \t\r\n")
	want := checkText(body, maxDepth) == nil && len(jsonTrimmed) > 0 && json.Valid(jsonTrimmed)
	if ok != want {
		t.Fatalf("scanBody(%q, %d) ok=%v, checkText+json.Valid say %v", body, maxDepth, ok, want)
	}
	if !ok {
		return
	}
	if !bytes.Equal(val, trimmed) {
		t.Fatalf("scanBody(%q) value %q, want %q", body, val, trimmed)
	}
	var wantRaws [][]byte
	if trimmed[0] == '[' {
		wantRaws = arrayElems(trimmed)
	}
	if len(raws) != len(wantRaws) {
		t.Fatalf("scanBody(%q) split %d elements, arrayElems %d", body, len(raws), len(wantRaws))
	}
	for i := range raws {
		if !bytes.Equal(raws[i], wantRaws[i]) {
			t.Fatalf("scanBody(%q) element %d %q, arrayElems %q", body, i, raws[i], wantRaws[i])
		}
	}
}

func TestScanBodyAgreesOnSeeds(t *testing.T) {
	for _, s := range scanSeeds() {
		for _, d := range []int{0, 1, 3, 4, 64} {
			checkScan(t, []byte(s), d)
			checkScan(t, []byte("["+s+"]"), d)
			checkScan(t, []byte("["+s+","+s+"]"), d)
		}
	}
	checkScan(t, benchBatch(50), 64)
	checkScan(t, []byte(strings.Repeat("[", 70)+strings.Repeat("]", 70)), 64)
}

// FuzzScanBodyAgreesWithTheChecksItReplaces is the differential test of the
// one-pass scanner against checkText, json.Valid and arrayElems.
func FuzzScanBodyAgreesWithTheChecksItReplaces(f *testing.F) {
	for _, s := range scanSeeds() {
		f.Add(uint8(4), []byte(s))
		f.Add(uint8(3), []byte("["+s+","+s+"]"))
	}
	f.Fuzz(func(t *testing.T, depth uint8, body []byte) { checkScan(t, body, int(depth%8)) })
}
