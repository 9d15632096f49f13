package signature

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Deps are the gate's collaborators.
type Deps struct {
	Sealer    *tenancy.Sealer // nil: no key can sign (every signed request is refused)
	Nonces    Nonces
	Audit     Auditor
	Principal func(c *gin.Context) (tenancy.Principal, bool)
	// MaxBody is the largest body read to check its digest (the ingest
	// request limit: a larger body would be refused anyway).
	MaxBody    int64
	RetryAfter time.Duration // sent with a 503 when the nonce store fails
	// Leave reports whether the route of c claims nonces itself
	// (ingest.TakesNonce): the gate then leaves the claim to it
	// (ingest.LeaveNonce), so it rides that route's Redis round trip. nil:
	// the gate claims every nonce.
	Leave    func(c *gin.Context) bool
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Gate checks request signatures; Handler is its gin middleware.
type Gate struct {
	cfg     Config
	d       Deps
	now     func() time.Time
	slots   chan struct{} // audit writes in flight
	keys    keys
	checks  *prometheus.CounterVec
	ok      prometheus.Counter // checks{outcome="ok"}
	dropped prometheus.Counter
}

// New returns the gate.
func New(cfg Config, d Deps) *Gate {
	f := promauto.With(d.Registry)
	g := &Gate{cfg: cfg, d: d, now: time.Now, slots: make(chan struct{}, auditInFlight),
		checks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_gateway_signature_checks_total",
			Help: "Signed or signature-requiring requests by outcome: ok, or the refusal code.",
		}, []string{"outcome"}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Name: "pulsestream_gateway_signature_audit_dropped_total",
			Help: "Signature refusals not written to the audit log because its writes were busy (they are still logged).",
		}),
	}
	g.ok = g.checks.WithLabelValues("ok")
	return g
}

// Handler runs after authentication: requests of keys that neither require
// a signature nor send one pass untouched; the others go on only with a
// valid signature (and their body, read once to check its digest, is handed
// on to the handler as it was received).
func (g *Gate) Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := g.d.Principal(c)
		if !ok || !p.RequireSignature && !httpsig.Present(c.Request.Header) {
			c.Next()
			return
		}
		sig, e := g.verify(c, p)
		if e == nil && sig.Nonce != "" {
			if g.d.Leave != nil && g.d.Leave(c) {
				ingest.LeaveNonce(c, g.nonce(p, sig))
				c.Next() // the route claims it and calls Judge
				return
			}
			n := g.nonce(p, sig)
			fresh, err := g.Claim(c.Request.Context(), n)
			e = g.verdict(c, p, fresh, err)
		}
		if e != nil {
			g.refuse(c, p, e)
			return
		}
		g.ok.Inc()
		c.Next()
	}
}

// nonce is the claim of sig's nonce: remembered while sig could be accepted.
func (g *Gate) nonce(p tenancy.Principal, sig httpsig.Signature) *ingest.Nonce {
	n := &ingest.Nonce{KeyID: p.KeyPrefix, Value: sig.Nonce, TTL: sig.Created.Add(g.cfg.Window).Sub(g.now()) + time.Second, Gate: g}
	if r, ok := g.d.Nonces.(redisNonces); ok {
		n.RedisKey, n.Timeout = r.key(p.KeyPrefix, sig.Nonce), r.claimTimeout()
	}
	return n
}

// Claim claims n on its own (ingest.NonceGate).
func (g *Gate) Claim(ctx context.Context, n *ingest.Nonce) (bool, error) {
	return g.d.Nonces.Claim(ctx, n.KeyID, n.Value, n.TTL)
}

// Judge answers the claim of a nonce left to the ingest route
// (ingest.NonceGate): counted as a check that passed, or refused as the gate
// refuses (401 signature_replayed, audited; 503 when the claim failed).
func (g *Gate) Judge(c *gin.Context, fresh bool, err error) bool {
	if fresh && err == nil {
		g.ok.Inc()
		return true
	}
	p, _ := g.d.Principal(c)
	g.refuse(c, p, g.verdict(c, p, fresh, err))
	return false
}

// verdict is the answer to a nonce claim: nil when the nonce was new.
func (g *Gate) verdict(c *gin.Context, p tenancy.Principal, fresh bool, err error) *apierror.Error {
	switch {
	case err != nil:
		g.d.Logger.Warn("signature nonce store failed", "key", p.KeyPrefix, "err", err)
		c.Header("Retry-After", fmt.Sprint(int(g.d.RetryAfter.Seconds())))
		return apierror.New(http.StatusServiceUnavailable, ingest.CodeServiceUnavailable, "the signature's nonce could not be checked right now; retry")
	case !fresh:
		return apierror.New(http.StatusUnauthorized, httpsig.CodeReplayed, "this signature's nonce was already used: sign every request with a new nonce")
	}
	return nil
}

// verify returns the checked signature when the request may go on (its
// nonce, if any, not yet claimed), else the answer.
func (g *Gate) verify(c *gin.Context, p tenancy.Principal) (httpsig.Signature, *apierror.Error) {
	r := c.Request
	sigs, err := httpsig.Parse(r.Header)
	if err != nil {
		return httpsig.Signature{}, sigErr(err)
	}
	key, e := g.key(p)
	if e != nil {
		return httpsig.Signature{}, e
	}
	hasBody := r.ContentLength != 0 // -1: chunked, a body of unknown length
	sig, err := httpsig.Check(httpsig.FromServer(r), sigs, httpsig.Policy{KeyID: p.KeyPrefix, Key: key, Now: g.now(), Window: g.cfg.Window, HasBody: hasBody})
	if err != nil {
		return httpsig.Signature{}, sigErr(err)
	}
	if hasBody {
		if e := g.checkBody(c); e != nil {
			return httpsig.Signature{}, e
		}
	}
	return sig, nil
}

// key is the key's signing secret, opened once (g.keys).
func (g *Gate) key(p tenancy.Principal) (*httpsig.Key, *apierror.Error) {
	if p.SealedSigningSecret == nil || g.d.Sealer == nil {
		return nil, apierror.New(http.StatusUnauthorized, httpsig.CodeInvalid,
			"this API key has no signing secret: create a new key (it comes with one) to sign requests")
	}
	if key := g.keys.get(p.KeyID, p.SealedSigningSecret); key != nil {
		return key, nil
	}
	secret, err := g.d.Sealer.Open(p.KeyID, p.SealedSigningSecret)
	if err != nil {
		g.d.Logger.Error("signing secret cannot be opened: is signing-secret-key the one the key was created with?", "key", p.KeyPrefix, "err", err)
		return nil, apierror.New(http.StatusUnauthorized, httpsig.CodeInvalid, "this API key's signing secret cannot be used here")
	}
	key := httpsig.NewKey(secret)
	g.keys.put(p.KeyID, p.SealedSigningSecret, key)
	return key, nil
}

// checkBody reads the body as received (before any gzip is undone), checks
// its Content-Digest, and puts it back for the handler.
func (g *Gate) checkBody(c *gin.Context) *apierror.Error {
	r := c.Request
	if r.ContentLength > g.d.MaxBody {
		return apierror.New(http.StatusRequestEntityTooLarge, ingest.CodeRequestTooLarge, fmt.Sprintf("the body is %d bytes; at most %d are accepted", r.ContentLength, g.d.MaxBody))
	}
	body, err := g.readAll(c)
	if err != nil {
		return ingest.BodyError(err, apierror.New(http.StatusBadRequest, "invalid_body", "the body could not be read: "+err.Error()))
	}
	if err := httpsig.CheckDigest(r.Header, body); err != nil {
		return sigErr(err)
	}
	rb := &receivedBody{}
	rb.Reset(body)
	r.Body = rb
	return nil
}

// receivedBody is a body already read, handed on as received.
type receivedBody struct{ bytes.Reader }

func (*receivedBody) Close() error { return nil }

// readAll reads c's body: of a known length (at most MaxBody, checked
// before) in one allocation, as net/http never returns more than
// Content-Length; of an unknown one (chunked) up to MaxBody.
func (g *Gate) readAll(c *gin.Context) ([]byte, error) {
	r := c.Request
	if r.ContentLength < 0 {
		return io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, g.d.MaxBody))
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}

func sigErr(err error) *apierror.Error {
	var se *httpsig.Error
	if errors.As(err, &se) {
		return apierror.New(http.StatusUnauthorized, se.Code, se.Message)
	}
	return apierror.New(http.StatusUnauthorized, httpsig.CodeInvalid, err.Error())
}

// refuse answers e, and for a 401 says how to sign (RFC 9421 §5.1
// Accept-Signature), logs, counts and audits the refusal.
func (g *Gate) refuse(c *gin.Context, p tenancy.Principal, e *apierror.Error) {
	g.checks.WithLabelValues(e.Code).Inc()
	if e.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", tenancy.Challenge)
		c.Header("Accept-Signature", fmt.Sprintf(`sig1=("@method" "@target-uri" "content-type" "content-digest");alg=%q;keyid=%q`, httpsig.Algorithm, p.KeyPrefix))
		g.d.Logger.Warn("request signature refused", "code", e.Code, "key", p.KeyPrefix, "tenant", p.Tenant.ID,
			"method", c.Request.Method, "path", c.Request.URL.Path, "request_id", c.GetString("request_id"))
		g.audit(c, p, e)
	}
	apierror.Abort(c, e)
}

func (g *Gate) audit(c *gin.Context, p tenancy.Principal, e *apierror.Error) {
	select {
	case g.slots <- struct{}{}:
	default:
		g.dropped.Inc()
		return
	}
	defer func() { <-g.slots }()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), auditTimeout)
	defer cancel()
	err := g.d.Audit.Write(ctx, tenancy.AuditEntry{Actor: p.Actor(), Action: ActionRefused, TenantID: p.Tenant.ID, Target: p.KeyPrefix,
		Details: map[string]any{"code": e.Code, "message": e.Message, "method": c.Request.Method, "path": c.Request.URL.Path,
			"request_id": c.GetString("request_id"), "remote": c.RemoteIP(), "signature_input": truncate(c.Request.Header.Get(httpsig.HeaderSignatureInput), 512)}})
	if err != nil {
		g.d.Logger.Error("signature refusal not audited", "key", p.KeyPrefix, "err", err)
	}
}

// truncate bounds client text kept in the audit log, and keeps out any
// API key a client put there.
func truncate(s string, n int) string {
	if tenancy.ContainsKey(s) {
		return "(withheld: holds an API key)"
	}
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
