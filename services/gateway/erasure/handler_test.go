package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/tenancy"
)

type memStore struct {
	requests map[string]Erasure // tenant/id
	subjects []string
	fail     bool
}

func (m *memStore) Request(_ context.Context, id, tenant, subject, _ string) (Erasure, error) {
	if m.fail {
		return Erasure{}, errors.New("postgres down")
	}
	e := Erasure{ID: id, State: StatePending, SubjectSHA256: SubjectHash(subject), RequestedAt: time.Now()}
	m.requests[tenant+"/"+id] = e
	m.subjects = append(m.subjects, subject)
	return e, nil
}

func (m *memStore) Get(_ context.Context, tenant, id string) (Erasure, error) {
	if m.fail {
		return Erasure{}, errors.New("postgres down")
	}
	e, ok := m.requests[tenant+"/"+id]
	if !ok {
		return Erasure{}, ErrNotFound
	}
	return e, nil
}

func testRouter(store *memStore) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	principal := func(c *gin.Context) (tenancy.Principal, bool) {
		tenant := "t1"
		if t := c.GetHeader("X-Tenant"); t != "" {
			tenant = t
		}
		return tenancy.Principal{Tenant: tenancy.Tenant{ID: tenant}, KeyPrefix: "pfx"}, true
	}
	NewHandler(store, principal, slog.New(slog.DiscardHandler)).Register(r)
	return r
}

func serve(r http.Handler, method, path, contentType, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func TestBadErasureRequestsGetA4xxWithACodeAndStoreNothing(t *testing.T) {
	store := &memStore{requests: map[string]Erasure{}}
	r := testRouter(store)
	cases := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"not json", "application/json", `{"subject":`, 400, "invalid_body"},
		{"array", "application/json", `["a"]`, 400, "invalid_body"},
		{"unknown member", "application/json", `{"subject":"a","tenant":"x"}`, 400, "invalid_body"},
		{"two objects", "application/json", `{"subject":"a"}{"subject":"b"}`, 400, "invalid_body"},
		{"no subject", "application/json", `{}`, 400, "invalid_subject"},
		{"empty subject", "application/json", `{"subject":""}`, 400, "invalid_subject"},
		{"number subject", "application/json", `{"subject":42}`, 400, "invalid_body"},
		{"control character", "application/json", `{"subject":"a\u0001b"}`, 400, "invalid_subject"},
		{"too long", "application/json", `{"subject":"` + strings.Repeat("é", 1025) + `"}`, 400, "invalid_subject"},
		{"huge body", "application/json", `{"subject":"` + strings.Repeat("a", 20000) + `"}`, 413, "request_too_large"},
		{"form", "application/x-www-form-urlencoded", `subject=a`, 415, "unsupported_media_type"},
		{"no content type", "", `{"subject":"a"}`, 415, "unsupported_media_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := serve(r, http.MethodPost, "/v1/erasures", c.contentType, c.body)
			var body struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != c.status || body.Error.Code != c.code || body.Error.Message == "" {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, c.status, c.code)
			}
		})
	}
	if len(store.requests) != 0 {
		t.Fatalf("bad requests stored %d erasures", len(store.requests))
	}
}

func TestErasureRequestAnswers202WithAnIDItsTenantAloneCanRead(t *testing.T) {
	store := &memStore{requests: map[string]Erasure{}}
	r := testRouter(store)
	w := serve(r, http.MethodPost, "/v1/erasures", "application/json; charset=utf-8", `{"subject":"user-1024 ✓"}`)
	var acc Accepted
	if err := json.Unmarshal(w.Body.Bytes(), &acc); err != nil || w.Code != http.StatusAccepted || acc.State != StatePending ||
		acc.StatusURL != "/v1/erasures/"+acc.ID || w.Header().Get("Location") != acc.StatusURL || acc.SubjectSHA256 != SubjectHash("user-1024 ✓") {
		t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
	}
	if strings.Contains(w.Body.String(), "user-1024") {
		t.Fatal("the answer echoes the subject")
	}
	if w := serve(r, http.MethodGet, acc.StatusURL, "", ""); w.Code != http.StatusOK {
		t.Fatalf("own tenant: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{acc.StatusURL, "/v1/erasures/not-a-ulid", "/v1/erasures/01JDZ6B3X8Y4K1M2N3P4Q5R6S7"} {
		if w := serve(r, http.MethodGet, path, "", "", "X-Tenant", "t2"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"not_found"`) {
			t.Fatalf("GET %s as another tenant: %d %s", path, w.Code, w.Body)
		}
	}
	store.fail = true
	if w := serve(r, http.MethodPost, "/v1/erasures", "application/json", `{"subject":"a"}`); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("store down: %d %s", w.Code, w.Body)
	}
}
