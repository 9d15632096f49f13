package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
	"github.com/pulsestream/pulsestream/services/gateway/signature"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// testSigningKey is the signing-secret-key of the signature tests.
const testSigningKey = "5f0c6d1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"

// hms runs testdata/hms_interop.py: the PyPI package http-message-signatures
// (an independent RFC 9421 implementation) in the project's venv, where
// scripts/pyvenv.sh installs it (make test runs that first).
type hms struct{ python string }

func pythonHMS(t *testing.T) hms {
	t.Helper()
	py := os.Getenv("PULSESTREAM_PYTHON")
	if py == "" {
		py = filepath.Join(testenv.Require(t, "PULSESTREAM_LOCAL"), "venv", "bin", "python")
	}
	if out, err := exec.Command(py, "-c", "import http_message_signatures").CombinedOutput(); err != nil {
		t.Fatalf("the interop tests need http-message-signatures in %s (bash scripts/pyvenv.sh installs it): %v %s", py, err, out)
	}
	return hms{python: py}
}

// pyCase is one request for the Python side.
type pyCase struct {
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	Headers    map[string]string `json:"headers"`
	BodyB64    string            `json:"body_b64"`
	KeyID      string            `json:"key_id"`
	Secret     string            `json:"secret"`
	Created    int64             `json:"created,omitempty"`
	Nonce      *string           `json:"nonce,omitempty"`
	Components []string          `json:"components,omitempty"`
}

func (h hms) run(t *testing.T, mode string, cases []pyCase, out any) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"mode": mode, "cases": cases})
	cmd := exec.Command(h.python, filepath.Join("testdata", "hms_interop.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("hms_interop.py %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("hms_interop.py %s answered %s: %v", mode, res, err)
	}
}

// signedEnv is a real gateway (New: PostgreSQL keys, Redis, Kafka) whose
// tenant has a key that must sign and a key that need not.
type signedEnv struct {
	hostileEnv
	signed, plain tenancy.CreatedKey
}

func startSignedGateway(t *testing.T) signedEnv {
	t.Helper()
	e := startRealGateway(t, slog.New(slog.DiscardHandler), tenancy.TenantSettings{}, func(c *Config) {
		c.Auth.SigningSecretKey = testSigningKey
	})
	sealer, err := tenancy.NewSealer(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	e.tenant.Admin.WithSealer(sealer)
	return signedEnv{hostileEnv: e,
		signed: e.tenant.KeyOf(tenancy.KeySpec{Name: "signed", Scopes: []tenancy.Scope{tenancy.ScopeIngest}, RequireSignature: true}),
		plain:  e.tenant.KeyOf(tenancy.KeySpec{Name: "plain", Scopes: []tenancy.Scope{tenancy.ScopeIngest}}),
	}
}

// send posts body with headers (and the API key) to the gateway.
func (e signedEnv) send(t *testing.T, key string, body []byte, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	return do(t, req)
}

// pySigned has Python sign body for the signed key.
func (e signedEnv) pySigned(t *testing.T, h hms, body []byte, created time.Time, nonce string, extra map[string]string) map[string]string {
	t.Helper()
	headers := map[string]string{"Content-Type": "application/json"}
	for k, v := range extra {
		headers[k] = v
	}
	c := pyCase{Method: "POST", URL: e.url + "/v1/events", Headers: headers, BodyB64: base64.StdEncoding.EncodeToString(body),
		KeyID: e.signed.Prefix, Secret: e.signed.SigningSecret, Created: created.Unix(),
		Components: []string{"@method", "@target-uri", "content-type", "content-digest"}}
	if nonce != "" {
		c.Nonce = &nonce
	}
	var res []struct {
		Headers map[string]string `json:"headers"`
	}
	h.run(t, "sign", []pyCase{c}, &res)
	return res[0].Headers
}

func with(h map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for kk, vv := range h {
		out[kk] = vv
	}
	if v == "" {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// TestIntegrationSignedRequestsInteroperateAndRefusalsProduceNothing: requests
// signed by the Python library are accepted; each tampering, a stale created
// and a replayed nonce get 401 with their own code, are audited, and leave
// nothing in Kafka; an unsigned request of a key that need not sign goes on
// as before.
func TestIntegrationSignedRequestsInteroperateAndRefusalsProduceNothing(t *testing.T) {
	h := pythonHMS(t)
	e := startSignedGateway(t)
	now := time.Now()
	accepted := 0
	expect := func(name string, a answer, status int, code string) {
		t.Helper()
		if a.status != status || (code != "" && a.errorCode() != code) {
			t.Errorf("%s: %d %s, want %d %s", name, a.status, a.raw, status, code)
		}
		if status == 200 {
			accepted += a.body.Accepted
		}
		if status == 401 && (a.header.Get("WWW-Authenticate") == "" || !strings.Contains(a.header.Get("Accept-Signature"), `keyid="ps_`)) {
			t.Errorf("%s: 401 without WWW-Authenticate and Accept-Signature: %v", name, a.header)
		}
	}

	body := batch(event("py-1", "t", `{"n":1}`), event("py-2", "t", `{"n":2}`))
	ok := e.pySigned(t, h, body, now, "nonce-1", nil)
	expect("python-signed", e.send(t, e.signed.Key, body, ok), 200, "")
	expect("same nonce again", e.send(t, e.signed.Key, body, ok), 401, httpsig.CodeReplayed)

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(batch(event("py-gz", "t", `{"n":3}`)))
	_ = zw.Close()
	gzSigned := e.pySigned(t, h, gz.Bytes(), now, "nonce-gz", map[string]string{"Content-Encoding": "gzip"})
	expect("python-signed gzip (digest of the bytes as sent)", e.send(t, e.signed.Key, gz.Bytes(), gzSigned), 200, "")

	fresh := func(nonce string) map[string]string { return e.pySigned(t, h, body, now, nonce, nil) }
	tampered := bytes.Replace(body, []byte(`"n":1`), []byte(`"n":9`), 1)
	expect("unsigned", e.send(t, e.signed.Key, body, map[string]string{"Content-Type": "application/json"}), 401, httpsig.CodeMissing)
	expect("body changed", e.send(t, e.signed.Key, tampered, fresh("n-body")), 401, httpsig.CodeDigest)
	expect("body and digest changed", e.send(t, e.signed.Key, tampered, with(fresh("n-digest"), "Content-Digest", httpsig.ContentDigest(tampered))), 401, httpsig.CodeInvalid)
	expect("content-type changed", e.send(t, e.signed.Key, body, with(fresh("n-ct"), "Content-Type", "application/cloudevents-batch+json")), 401, httpsig.CodeInvalid)
	expect("signature changed", e.send(t, e.signed.Key, body, with(fresh("n-sig"), "Signature", "py=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:")), 401, httpsig.CodeInvalid)
	expect("stale created", e.send(t, e.signed.Key, body, e.pySigned(t, h, body, now.Add(-10*time.Minute), "n-stale", nil)), 401, httpsig.CodeExpired)
	targetChanged := e.pySigned(t, h, body, now, "n-uri", nil)
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/events?extra=1", bytes.NewReader(body))
	for k, v := range targetChanged {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+e.signed.Key)
	expect("target-uri changed", do(t, req), 401, httpsig.CodeInvalid)
	otherSecret := e.pySigned(t, h, body, now, "n-secret", nil)
	otherKey := e.plain // its own secret signs, but for another keyid
	expect("signed for another key", e.send(t, otherKey.Key, body, otherSecret), 401, httpsig.CodeInvalid)

	expect("plain key, unsigned", e.send(t, e.plain.Key, batch(event("plain-1", "t", "1")), map[string]string{"Content-Type": "application/json"}), 200, "")

	if n := topicRecords(t, e.brokers, e.topic); n != int64(accepted) || accepted != 4 {
		t.Fatalf("topic holds %d records, %d events were accepted (want 4): a refused request was produced", n, accepted)
	}
	entries, err := e.tenant.Admin.Audit(context.Background(), tenancy.AuditFilter{TenantID: e.tenant.ID})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	for _, en := range entries {
		if en.Action == signature.ActionRefused {
			codes[fmt.Sprint(en.Details["code"])]++
		}
	}
	want := map[string]int{httpsig.CodeReplayed: 1, httpsig.CodeMissing: 1, httpsig.CodeDigest: 1, httpsig.CodeInvalid: 5, httpsig.CodeExpired: 1}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("audited refusals %v, want %v", codes, want)
	}
}

// TestIntegrationGoSignerInteroperates: requests signed by clients/go/httpsig
// (what the Go client uses) verify with the Python library, tampered ones do
// not, and the gateway accepts them; a key that must sign must sign its
// DELETEs too (method and target, no digest without a body).
func TestIntegrationGoSignerInteroperates(t *testing.T) {
	h := pythonHMS(t)
	e := startSignedGateway(t)
	var cases []pyCase
	var reqs []*http.Request
	for i, ct := range []string{"application/json", "application/x-ndjson", "application/cloudevents+json"} {
		body := []byte(event(fmt.Sprintf("go-%d", i), "t", `{"i":1}`))
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if err := httpsig.Sign(req, body, []byte(e.signed.SigningSecret), httpsig.SignParams{KeyID: e.signed.Prefix, Nonce: fmt.Sprint("go-nonce-", i)}); err != nil {
			t.Fatal(err)
		}
		c := pyCase{Method: "POST", URL: req.URL.String(), Headers: map[string]string{}, BodyB64: base64.StdEncoding.EncodeToString(body),
			KeyID: e.signed.Prefix, Secret: e.signed.SigningSecret}
		for _, k := range []string{"Content-Type", "Content-Digest", "Signature-Input", "Signature"} {
			c.Headers[k] = req.Header.Get(k)
		}
		cases = append(cases, c)
		reqs = append(reqs, req)
	}
	bad := cases[0]
	bad.BodyB64 = base64.StdEncoding.EncodeToString([]byte(`{"tampered":true}`))
	wrongSecret := cases[0]
	wrongSecret.Secret = "pss_not-the-secret"
	otherURL := cases[0]
	otherURL.URL = strings.Replace(otherURL.URL, "/v1/events", "/v1/other", 1)
	var res []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	h.run(t, "verify", append(cases, bad, wrongSecret, otherURL), &res)
	for i := range cases {
		if !res[i].OK {
			t.Errorf("Python refused Go-signed request %d: %s", i, res[i].Error)
		}
	}
	for i, name := range []string{"tampered body", "wrong secret", "other URL"} {
		if r := res[len(cases)+i]; r.OK {
			t.Errorf("Python accepted the %s", name)
		}
	}
	del, _ := http.NewRequest(http.MethodDelete, e.url+"/v1/events/go-del", nil)
	del.Header.Set("Authorization", "Bearer "+e.signed.Key)
	if a := do(t, del); a.status != 401 || a.errorCode() != httpsig.CodeMissing {
		t.Errorf("unsigned DELETE of a key that must sign: %d %s", a.status, a.raw)
	}
	del, _ = http.NewRequest(http.MethodDelete, e.url+"/v1/events/go-del", nil)
	del.Header.Set("Authorization", "Bearer "+e.signed.Key)
	if err := httpsig.Sign(del, nil, []byte(e.signed.SigningSecret), httpsig.SignParams{KeyID: e.signed.Prefix, Components: []string{"@method", "@target-uri"}}); err != nil {
		t.Fatal(err)
	}
	if a := do(t, del); a.status != http.StatusAccepted {
		t.Errorf("signed DELETE (no body, so no digest): %d %s", a.status, a.raw)
	}
	for i, req := range reqs { // Sign read nothing of req.Body: it is sent as built
		req.Header.Set("Authorization", "Bearer "+e.signed.Key)
		if a := do(t, req); a.status != 200 || a.body.Accepted != 1 {
			t.Errorf("gateway refused Go-signed request %d: %d %s", i, a.status, a.raw)
		}
	}
}

// readmeBlock returns the fenced code block after marker in the gateway's README.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- "+marker)
	if !ok {
		t.Fatalf("README.md has no %q block", marker)
	}
	_, rest, _ = strings.Cut(rest, "```")
	_, rest, _ = strings.Cut(rest, "\n") // the fence's language
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("README.md: the %q block is not closed", marker)
	}
	return block
}

// TestIntegrationREADMESigningExamplesWork runs the README's curl+openssl
// and Python signing examples, as written, against a gateway whose key must
// sign.
func TestIntegrationREADMESigningExamplesWork(t *testing.T) {
	h := pythonHMS(t)
	e := startSignedGateway(t)
	script := readmeBlock(t, "signing-curl")
	first, rest, _ := strings.Cut(script, "\n")
	if !strings.HasPrefix(first, "KEY=") {
		t.Fatalf("the curl example should start with its settings, got %q", first)
	}
	script = fmt.Sprintf("KEY=%s SECRET=%s URL=%s/v1/events\n%s", e.signed.Key, e.signed.SigningSecret, e.url, rest)
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	checkAccepted(t, "curl example", out, err)

	cmd := exec.Command(h.python, "-c", readmeBlock(t, "signing-python"))
	cmd.Env = append(os.Environ(), "PULSESTREAM_API_KEY="+e.signed.Key, "PULSESTREAM_SIGNING_SECRET="+e.signed.SigningSecret, "PULSESTREAM_URL="+e.url)
	out, err = cmd.CombinedOutput()
	checkAccepted(t, "Python example", out, err)
	if n := topicRecords(t, e.brokers, e.topic); n != 2 {
		t.Fatalf("topic holds %d records, want the 2 events of the examples", n)
	}
}

func checkAccepted(t *testing.T, name string, out []byte, err error) {
	t.Helper()
	var resp struct{ Accepted int }
	if err != nil || json.Unmarshal(out, &resp) != nil || resp.Accepted != 1 {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}
