package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// queryReplica is one query binary against the harness's stores.
type queryReplica struct {
	proc *testenv.Proc
	addr string
}

// spawnQueries runs n query binaries on free ports against the harness's
// PostgreSQL schema, ClickHouse database and Redis markers, all with one
// cursor key (as the chart gives every replica), and waits until each is ready.
func (h *harness) spawnQueries(n int) []queryReplica {
	h.t.Helper()
	bin := testenv.Build(h.t, "services/query")
	cursorKey := randHex(32)
	var qs []queryReplica
	for range n {
		addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(h.t))
		p := testenv.Spawn(h.t, bin, "--http-addr", addr, "--admin-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0",
			"--postgres-url", h.pgURL, "--clickhouse-addr", h.chAddr, "--clickhouse-database", h.chDB,
			"--redis-addr", testenv.RedisAddr(h.t), "--markers-prefix", "pstest:"+h.suffix+":",
			"--cursor-key", cursorKey, "--log-level", "warn", "--log-format", "text")
		qs = append(qs, queryReplica{p, addr})
	}
	for _, q := range qs {
		waitFor(h.t, 90*time.Second, "query "+q.addr+" ready", func() bool { code, _ := readyz(q.addr); return code == 200 })
	}
	return qs
}

// queryKey is a query-scoped key of the harness's tenant.
func (h *harness) queryKey() string {
	h.t.Helper()
	admin := tenancy.NewAdmin(tenancy.NewPGStore(h.pool))
	key, err := admin.CreateKey(context.Background(), "faulttest", h.tenant, tenancy.KeySpec{Name: "query", Scopes: []tenancy.Scope{tenancy.ScopeQuery}})
	if err != nil {
		h.t.Fatal(err)
	}
	return key.Key
}

// get answers the status and body of path on a query replica.
func (q queryReplica) get(t testing.TB, key, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+q.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, q.addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// sameAnswers fails unless every replica answers path 200 with the same body;
// it returns that body.
func sameAnswers(t testing.TB, qs []queryReplica, key, path string) []byte {
	t.Helper()
	var first []byte
	for i, q := range qs {
		code, body := q.get(t, key, path)
		if code != http.StatusOK {
			t.Fatalf("query %d: GET %s: %d %s", i+1, path, code, body)
		}
		if i == 0 {
			first = body
		} else if string(body) != string(first) {
			at := 0
			for at < min(len(body), len(first)) && body[at] == first[at] {
				at++
			}
			t.Fatalf("GET %s: query 1 and query %d answer differently from byte %d: %q vs %q", path, i+1, at,
				excerpt(first, at), excerpt(body, at))
		}
	}
	return first
}

// checkQueryReplicasAgree runs two query services against the stores the
// harness's projectors filled and holds them to identical answers for the
// tenant: lookups and status of sampled acknowledged events, every search page
// (each page's cursor, minted by one replica, read by the other), and the
// statistics over a fixed window, whose total must be the stored count.
func (h *harness) checkQueryReplicasAgree(ids []string, stored int) {
	t := h.t
	t.Helper()
	qs := h.spawnQueries(2)
	key := h.queryKey()
	slices.Sort(ids)
	for _, id := range ids[:min(len(ids), 20)] {
		sameAnswers(t, qs, key, "/v1/events/"+url.PathEscape(id))
		sameAnswers(t, qs, key, "/v1/events/"+url.PathEscape(id)+"/status")
	}

	seen, cursor := 0, ""
	for page := 0; ; page++ {
		path := "/v1/events?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		// alternate which replica is asked first, so each reads the other's cursors
		order := qs
		if page%2 == 1 {
			order = []queryReplica{qs[1], qs[0]}
		}
		var res struct {
			Events     []json.RawMessage `json:"events"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(sameAnswers(t, order, key, path), &res); err != nil {
			t.Fatal(err)
		}
		seen += len(res.Events)
		if cursor = res.NextCursor; cursor == "" || page > stored/100+1 {
			break
		}
	}
	if seen != stored {
		t.Fatalf("search pages through both query services: %d events, %d stored", seen, stored)
	}

	from := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	to := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	var stats struct {
		Total int `json:"total"`
	}
	body := sameAnswers(t, qs, key, fmt.Sprintf("/v1/stats?from=%s&to=%s&interval=minute&group_by=type", from, to))
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Total != stored {
		t.Fatalf("stats total %d, %d stored", stats.Total, stored)
	}
	for _, q := range qs {
		if err := q.proc.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
			t.Errorf("query %s exit after SIGTERM: %v", q.addr, err)
		}
	}
}

// excerpt is up to 80 bytes of b from at.
func excerpt(b []byte, at int) string { return string(b[at:min(len(b), at+80)]) }
