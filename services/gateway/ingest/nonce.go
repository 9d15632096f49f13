package ingest

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Nonce is a signed request's nonce whose claim the signature gate left to
// the ingest path (issue 26): its SET NX rides the request's one Redis round
// trip (Trip) with the rate limit and the marker lookup instead of paying a
// round trip and a wait of its own. A replay is refused before anything is
// produced, and takes nothing from the tenant's rate limit.
type Nonce struct {
	KeyID, Value string        // the signing key's prefix and the nonce
	TTL          time.Duration // how long the nonce is remembered
	// RedisKey is the nonce's key in the gateway's Redis; "": the gate's
	// nonce store is elsewhere, and Gate.Claim claims it on its own.
	RedisKey string
	Timeout  time.Duration // the longest wait for the claim
	Gate     NonceGate
}

// NonceGate is the signature gate's side of a claim it left.
type NonceGate interface {
	// Claim claims the nonce on its own, when no round trip carried it.
	Claim(ctx context.Context, n *Nonce) (fresh bool, err error)
	// Judge answers the claim's outcome (fresh, or the error that left it
	// unknown): true when the request goes on, else it has answered c.
	Judge(c *gin.Context, fresh bool, err error) bool
}

// nonceKey holds a request's *Nonce in its gin context.
const nonceKey = "pulsestream.ingest.nonce"

// LeaveNonce leaves n to the ingest handler of c (TakesNonce).
func LeaveNonce(c *gin.Context, n *Nonce) { c.Set(nonceKey, n) }

// TakesNonce reports whether c is routed to the ingest handler, which claims
// a nonce left with LeaveNonce in its own round trip; the gate claims the
// nonces of every other route itself.
func TakesNonce(c *gin.Context) bool {
	return c.Request.Method == http.MethodPost && c.FullPath() == pathEvents
}

func nonceOf(c *gin.Context) *Nonce {
	v, ok := c.Get(nonceKey)
	if !ok {
		return nil
	}
	n, _ := v.(*Nonce)
	return n
}

// claimAlone claims n on its own and has the gate judge it: true when the
// request goes on (for a request refused before the service runs, so that a
// replay is still answered as one).
func claimAlone(c *gin.Context, n *Nonce) bool {
	fresh, err := n.Gate.Claim(c.Request.Context(), n)
	return n.Gate.Judge(c, fresh, err)
}
