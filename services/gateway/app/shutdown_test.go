package app

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// holdProduce makes the fake broker hold every produce request until the
// returned release is called (also at cleanup, before the gateway stops);
// entered is closed once the first produce request is being held.
func holdProduce(t *testing.T, c *kfake.Cluster) (entered <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	var enterOnce, releaseOnce sync.Once
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		enterOnce.Do(func() { close(in) })
		c.SleepControl(func() { <-out })
		return nil, nil, false
	})
	release = func() { releaseOnce.Do(func() { close(out) }) }
	t.Cleanup(release)
	return in, release
}

// within fails the test unless ch delivers within a bound far above what a
// loaded machine needs: only something waiting for the wrong thing misses it.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30 s", what)
		panic("unreachable")
	}
}

func asyncPost(t *testing.T, g *testGateway, body string) <-chan answer {
	done := make(chan answer, 1)
	go func() { done <- g.post(t, keyA, "application/json", []byte(body)) }()
	return done
}

// TestFullProducerBufferAnswers503InsteadOfBlocking holds the first
// request's records at the broker, so its bytes stay buffered for as long as
// the test needs: the second request, which does not fit beside them, must
// be answered 503 while the first is still held (a gateway blocking on the
// buffer could not answer before the release).
func TestFullProducerBufferAnswers503InsteadOfBlocking(t *testing.T) {
	g, c := unitGateway(t, func(c *Config) { c.Producer.MaxBufferedBytes = 1 << 20 })
	entered, release := holdProduce(t, c)
	big := `"` + strings.Repeat("x", 700<<10) + `"`
	first := asyncPost(t, g, event("big-1", "t", big))
	within(t, entered, "the first request's records at the broker")
	if b := g.app.producer.Buffered(); b < 700<<10 {
		t.Fatalf("%d bytes buffered while the first request is held, want its 700 KiB", b)
	}
	second := within(t, asyncPost(t, g, event("big-2", "t", big)), "the second request's answer while the first is held")
	if second.status != 503 || second.header.Get("Retry-After") == "" {
		t.Fatalf("second request: %d %s", second.status, truncate(second.raw))
	}
	release()
	if a := within(t, first, "the first request's answer after the release"); a.status != 200 {
		t.Fatalf("first request: %d %s", a.status, truncate(a.raw))
	}
}

// TestShutdownFailsReadinessAndLetsInFlightRequestsFinish holds a request's
// records at the broker, fails readiness and starts the server's shutdown
// while it is in flight: readiness answers 503, new connections are refused,
// and the request still gets its 200 once the broker acknowledges.
func TestShutdownFailsReadinessAndLetsInFlightRequestsFinish(t *testing.T) {
	c := newFakeKafka(t)
	g := startGateway(t, c.ListenAddrs(), "events.sd", deps{auth: testAuth(), markers: newMemMarkers(), limiter: &memLimiter{}}, nil)
	entered, release := holdProduce(t, c)
	done := asyncPost(t, g, event("inflight", "t", "1"))
	within(t, entered, "the in-flight request's records at the broker")
	g.app.Health().ShutDown()
	resp, err := http.Get(g.url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz after ShutDown: %v %v", resp, err)
	}
	resp.Body.Close()
	stopped := make(chan struct{})
	go func() { g.app.server.Shutdown(nil); close(stopped) }() // what the run group does next
	refused := make(chan struct{})
	go func() {
		for {
			r, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(g.url + "/livez")
			if err != nil {
				close(refused)
				return
			}
			r.Body.Close()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	within(t, refused, "new connections refused once the shutdown started")
	select {
	case <-stopped:
		t.Fatal("the server stopped while a request was in flight")
	default:
	}
	release()
	if a := within(t, done, "the in-flight request's answer"); a.status != 200 || a.body.Accepted != 1 {
		t.Fatalf("in-flight request: %d %s", a.status, a.raw)
	}
	within(t, stopped, "the server's shutdown after the last request")
}
