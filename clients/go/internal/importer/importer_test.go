package importer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
)

// dedupGateway answers like the gateway's dedup: first sight of an id is
// accepted, later ones duplicate; type "bad" is rejected. onEvents runs after
// each request with the number of events accepted so far.
type dedupGateway struct {
	mu       sync.Mutex
	stored   map[string]int
	onEvents func(accepted int)
}

func (g *dedupGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var evs []struct{ ID, Type string }
	if err := json.NewDecoder(zr).Decode(&evs); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	type res struct {
		Index  int    `json:"index"`
		ID     string `json:"id"`
		Status string `json:"status"`
		Code   string `json:"code,omitempty"`
	}
	out := make([]res, len(evs))
	g.mu.Lock()
	for i, e := range evs {
		out[i] = res{Index: i, ID: e.ID, Status: "accepted"}
		switch {
		case e.Type == "bad":
			out[i].Status, out[i].Code = "rejected", "invalid_schema"
		case g.stored[e.ID] > 0:
			out[i].Status = "duplicate"
		default:
			g.stored[e.ID]++
		}
	}
	n := len(g.stored)
	g.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"results": out})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	if g.onEvents != nil {
		g.onEvents(n)
	}
}

// writeInput writes n records: every 10th without an id, every 97th of
// type "bad", every 101st malformed, every 50th blank.
func writeInput(t *testing.T, n int) (path string, wantStored, wantRejected int) {
	path = filepath.Join(t.TempDir(), "events.ndjson")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 1; i <= n; i++ {
		switch {
		case i%50 == 0:
			fmt.Fprintln(w)
		case i%101 == 0:
			fmt.Fprintf(w, "{\"id\":\"e%d\",\n", i)
			wantRejected++
		case i%97 == 0:
			fmt.Fprintf(w, `{"id":"e%d","type":"bad"}`+"\n", i)
			wantRejected++
		case i%10 == 0:
			fmt.Fprintf(w, `{"type":"t","data":{"i":%d}}`+"\n", i)
			wantStored++
		default:
			fmt.Fprintf(w, `{"id":"e%d","type":"t","data":{"i":%d}}`+"\n", i, i)
			wantStored++
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path, wantStored, wantRejected
}

// An import cancelled part way and run again stores every event once, and
// the rejects file lists each rejected record once with its code.
func TestInterruptedImportResumesWithoutDoublesOrRepeatedRejects(t *testing.T) {
	const n = 20000
	path, wantStored, wantRejected := writeInput(t, n)
	g := &dedupGateway{stored: map[string]int{}}
	srv := httptest.NewServer(g)
	defer srv.Close()
	opts := Options{Inputs: []string{path}, Client: pulsestream.Config{Endpoint: srv.URL, APIKey: "k", BatchMaxEvents: 200, MaxInFlight: 2, BufferEvents: 1000,
		Retry: pulsestream.RetryPolicy{InitialInterval: time.Millisecond}}}

	// With 1,000 buffered and 2x200 in flight, the reader is far from the
	// end of the file when half of it is stored: the cancel interrupts it.
	ctx, cancel := context.WithCancel(context.Background())
	g.onEvents = func(stored int) {
		if stored >= n/2 {
			cancel()
		}
	}
	first, err := Run(ctx, opts)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("first run: %v (not interrupted)", err)
	}
	cp, err := loadCheckpoint(path + ".pulseimport.json")
	if err != nil || cp.Records == 0 || cp.Records >= n {
		t.Fatalf("checkpoint after the interruption: %+v %v", cp, err)
	}
	g.onEvents = nil
	second, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Skipped.Load() != cp.Records {
		t.Fatalf("second run skipped %d records, the checkpoint covered %d", second.Skipped.Load(), cp.Records)
	}
	for id, k := range g.stored {
		if k != 1 {
			t.Fatalf("%s stored %d times", id, k)
		}
	}
	if len(g.stored) != wantStored {
		t.Fatalf("%d events stored, want %d", len(g.stored), wantStored)
	}
	if acc := first.Accepted.Load() + second.Accepted.Load(); acc != int64(wantStored) {
		t.Fatalf("accepted %d over both runs, want %d", acc, wantStored)
	}
	rejects := readRejects(t, path+".rejects.ndjson")
	if len(rejects) != wantRejected {
		t.Fatalf("%d lines in the rejects file, want %d", len(rejects), wantRejected)
	}
	for line, code := range rejects {
		want := "invalid_schema"
		if line%101 == 0 {
			want = "invalid_json"
		}
		if code != want {
			t.Fatalf("line %d rejected %s, want %s", line, code, want)
		}
	}
	cp, _ = loadCheckpoint(path + ".pulseimport.json")
	if cp.Records != n || cp.Accepted+cp.Duplicate != int64(wantStored) || cp.Rejected != int64(wantRejected) {
		t.Fatalf("final checkpoint %+v", cp)
	}
	// A third run sends nothing: the checkpoint covers the whole file.
	third, err := Run(context.Background(), opts)
	if err != nil || third.Read.Load() != 0 {
		t.Fatalf("third run: read %d, %v", third.Read.Load(), err)
	}
}

func readRejects(t *testing.T, path string) map[int64]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int64]string{}
	dec := json.NewDecoder(f)
	for {
		var r rejection
		if err := dec.Decode(&r); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[r.Line]; dup {
			t.Fatalf("line %d twice in the rejects file", r.Line)
		}
		out[r.Line] = r.Code
	}
}

func TestJSONArrayInputAndStableIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "batch.json")
	if err := os.WriteFile(path, []byte(" [\n {\"type\":\"t\",\"data\":1},\n {\"id\":\"x\",\"type\":\"t\"},\n {\"type\":\"t\",\"data\":1}\n]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &dedupGateway{stored: map[string]int{}}
	srv := httptest.NewServer(g)
	defer srv.Close()
	opts := Options{Inputs: []string{path}, StatePath: filepath.Join(t.TempDir(), "state.json"), Client: pulsestream.Config{Endpoint: srv.URL, APIKey: "k"}}
	tot, err := Run(context.Background(), opts)
	if err != nil || tot.Accepted.Load() != 3 {
		t.Fatalf("accepted %d: %v", tot.Accepted.Load(), err)
	}
	want := []string{"batch.json:1:" + stableID("batch.json", 1, []byte(`{"type":"t","data":1}`))[len("batch.json:1:"):], "x",
		stableID("batch.json", 3, []byte(`{"type":"t","data":1}`))}
	for _, id := range want {
		if g.stored[id] != 1 {
			t.Fatalf("id %s not stored once: %v", id, g.stored)
		}
	}
}
