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

// slowProduce makes the fake broker hold every produce request for d.
func slowProduce(c *kfake.Cluster, d time.Duration) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { time.Sleep(d) })
		return nil, nil, false
	})
}

func TestFullProducerBufferAnswers503InsteadOfBlocking(t *testing.T) {
	g, c := unitGateway(t, func(c *Config) { c.Producer.MaxBufferedBytes = 1 << 20 })
	slowProduce(c, 1500*time.Millisecond)
	big := `"` + strings.Repeat("x", 700<<10) + `"`
	var wg sync.WaitGroup
	wg.Add(1)
	var first answer
	go func() {
		defer wg.Done()
		first = g.post(t, keyA, "application/json", []byte(event("big-1", "t", big)))
	}()
	time.Sleep(300 * time.Millisecond) // the first request's bytes are buffered
	start := time.Now()
	second := g.post(t, keyA, "application/json", []byte(event("big-2", "t", big)))
	if second.status != 503 || second.header.Get("Retry-After") == "" || time.Since(start) > time.Second {
		t.Fatalf("second request: %d after %s: %s", second.status, time.Since(start), truncate(second.raw))
	}
	wg.Wait()
	if first.status != 200 {
		t.Fatalf("first request: %d %s", first.status, truncate(first.raw))
	}
}

func TestShutdownFailsReadinessAndLetsInFlightRequestsFinish(t *testing.T) {
	c := newFakeKafka(t)
	g := startGateway(t, c.ListenAddrs(), "events.sd", deps{auth: testAuth(), markers: newMemMarkers(), limiter: &memLimiter{}}, nil)
	slowProduce(c, time.Second)
	done := make(chan answer, 1)
	go func() { done <- g.post(t, keyA, "application/json", []byte(event("inflight", "t", "1"))) }()
	time.Sleep(200 * time.Millisecond)
	g.app.Health().ShutDown()
	resp, err := http.Get(g.url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz after ShutDown: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	g.app.server.Shutdown(nil) // what the run group does next
	if a := <-done; a.status != 200 || a.body.Accepted != 1 {
		t.Fatalf("in-flight request: %d %s", a.status, a.raw)
	}
}
