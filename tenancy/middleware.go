package tenancy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

// Challenge is the WWW-Authenticate value of every 401.
const Challenge = `Bearer realm="pulsestream"`

// CodeAuthUnavailable answers a request whose key could not be checked
// because the store did not answer (503, retry later).
const CodeAuthUnavailable = "auth_unavailable"

const principalKey = "pulsestream.principal"

type principalCtxKey struct{}

// Middleware authenticates the request's API key (`Authorization: Bearer
// <key>`, else `X-API-Key`) from c.RemoteIP() (gin's trusted-proxy settings
// decide what that is; none by default) and requires scope need. On success
// the Principal is in the gin context (PrincipalFrom) and in the request
// context (PrincipalFromContext); otherwise the chain stops with a 401 (with
// WWW-Authenticate), 403 or 503 in the apierror shape.
func Middleware(auth Authenticator, need Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		remote, _ := netip.ParseAddr(c.RemoteIP())
		p, err := auth.Authenticate(c.Request.Context(), KeyFromRequest(c.Request), remote.Unmap(), need)
		if err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				if ae.Status == http.StatusUnauthorized {
					c.Header("WWW-Authenticate", Challenge)
				}
				apierror.Abort(c, apierror.New(ae.Status, ae.Code, ae.Message))
				return
			}
			_ = c.Error(err)
			c.Header("Retry-After", "1")
			apierror.Abort(c, apierror.New(http.StatusServiceUnavailable, CodeAuthUnavailable, "the API key could not be checked right now; retry"))
			return
		}
		c.Set(principalKey, p)
		c.Request = c.Request.WithContext(ContextWithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

// KeyFromRequest returns the presented API key: the token of an
// `Authorization: Bearer` header, else the X-API-Key header, else "".
func KeyFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// PrincipalFrom returns the Principal Middleware stored in c.
func PrincipalFrom(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(principalKey)
	if !ok {
		return Principal{}, false
	}
	p, ok := v.(Principal)
	return p, ok
}

// ContextWithPrincipal returns ctx carrying p.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalCtxKey{}, p)
}

// PrincipalFromContext returns the Principal stored by ContextWithPrincipal.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalCtxKey{}).(Principal)
	return p, ok
}
