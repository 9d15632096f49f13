package tenancy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// protected is a router with one route behind Middleware(auth, need) that
// echoes the principal's tenant.
func protected(auth Authenticator, need Scope) *gin.Engine {
	r := gin.New()
	r.GET("/x", Middleware(auth, need), func(c *gin.Context) {
		p, ok := PrincipalFrom(c)
		if !ok {
			c.Status(http.StatusInternalServerError)
			return
		}
		if q, ok := PrincipalFromContext(c.Request.Context()); !ok || q.KeyID != p.KeyID {
			c.Status(http.StatusInternalServerError)
			return
		}
		c.String(http.StatusOK, p.Tenant.ID)
	})
	return r
}

func TestMiddlewareAnswersInTheAPIErrorShape(t *testing.T) {
	store := newFakeStore()
	good, _ := store.add(t, activeTenant, ScopeIngest)
	suspended, _ := store.add(t, suspendedTenant, ScopeIngest)
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	r := protected(auth, ScopeIngest)
	rq := protected(auth, ScopeQuery)

	tests := []struct {
		name    string
		router  *gin.Engine
		headers map[string]string
		remote  string
		status  int
		code    string
	}{
		{"bearer", r, map[string]string{"Authorization": "Bearer " + good}, "", 200, ""},
		{"bearer, lowercase scheme", r, map[string]string{"Authorization": "bearer " + good}, "", 200, ""},
		{"x-api-key", r, map[string]string{"X-API-Key": good}, "", 200, ""},
		{"no key", r, nil, "", 401, CodeMissingKey},
		{"basic auth is not a key", r, map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}, "", 401, CodeMissingKey},
		{"garbage key", r, map[string]string{"Authorization": "Bearer nope"}, "", 401, CodeInvalidKey},
		{"wrong scope", rq, map[string]string{"X-API-Key": good}, "", 403, CodeMissingScope},
		{"suspended tenant", r, map[string]string{"X-API-Key": suspended}, "", 403, CodeTenantSuspended},
		{"ipv6 remote", r, map[string]string{"X-API-Key": good}, "[::1]:5555", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tt.remote != "" {
				req.RemoteAddr = tt.remote
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			tt.router.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.code == "" {
				if w.Body.String() != activeTenant.ID {
					t.Fatalf("body = %q", w.Body)
				}
				return
			}
			var body apierror.Body
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tt.code || body.Error.Message == "" {
				t.Fatalf("body = %s (%v), want code %s", w.Body, err, tt.code)
			}
			if got := w.Header().Get("WWW-Authenticate"); (tt.status == 401) != (got == Challenge) {
				t.Fatalf("WWW-Authenticate = %q on a %d", got, tt.status)
			}
		})
	}
}

func TestMiddlewareAnswers503WhenTheStoreIsDown(t *testing.T) {
	store := newFakeStore()
	good, _ := store.add(t, activeTenant, ScopeIngest)
	store.err = http.ErrHandlerTimeout
	r := protected(NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry()), ScopeIngest)
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("X-API-Key", good)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status = %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
}
