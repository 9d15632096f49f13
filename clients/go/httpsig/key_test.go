package httpsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

// TestKeyConcurrent: one Key checks many messages at once (run with -race):
// each check sees only its own message, and a wrong signature is refused.
func TestKeyConcurrent(t *testing.T) {
	secret := []byte("key-secret")
	k := NewKey(secret)
	secret[0] = 'X' // NewKey copied it
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				msg := fmt.Appendf(nil, "msg %d/%d", g, i)
				m := hmac.New(sha256.New, []byte("key-secret"))
				m.Write(msg)
				sig := m.Sum(nil)
				if !k.equal(msg, sig) {
					errs <- fmt.Sprintf("%s: its HMAC refused", msg)
					return
				}
				sig[i%len(sig)] ^= 1
				if k.equal(msg, sig) {
					errs <- fmt.Sprintf("%s: a wrong HMAC accepted", msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
