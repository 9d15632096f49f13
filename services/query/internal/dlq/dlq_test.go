package dlq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/apitest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// operatorAuth accepts the key "ops-admin" as an admin key of the operator
// tenant and "tenant-admin" as an admin key of another tenant.
type operatorAuth struct{}

func (operatorAuth) Authenticate(_ context.Context, key string, _ netip.Addr, need tenancy.Scope) (tenancy.Principal, error) {
	tenant := map[string]string{"ops-admin": tenancy.OperatorTenant, "tenant-admin": "acme"}[key]
	if tenant == "" {
		return tenancy.Principal{}, &tenancy.AuthError{Status: 401, Code: "invalid_api_key", Message: "unknown key"}
	}
	return tenancy.Principal{Tenant: tenancy.Tenant{ID: tenant}, KeyPrefix: "ps_test", Scopes: []tenancy.Scope{tenancy.ScopeAdmin}}, nil
}

func TestRoutesMatchTheOpenAPIDocument(t *testing.T) {
	h := Handler(nil, nil, operatorAuth{}, httpapi.NewMetrics(prometheus.NewRegistry(), "test"), nil, slog.New(slog.DiscardHandler))
	apitest.RoutesMatchDocument(t, "openapi/dlq.yaml", h.Routes())
}

// dlqFixture is a private event topic and DLQ topic on the real broker,
// with n dead-letter records in the DLQ, and the API over them (the lag
// looked up on every call).
func dlqFixture(t *testing.T, n int) (*DLQ, http.Handler, string) {
	f := newFixture(t, n, 0)
	return f.d, f.h, f.topic
}

// fixture is what dlqFixture makes, with the lag cache the API uses.
type fixture struct {
	d     *DLQ
	h     http.Handler
	topic string
	lags  *LagCache
}

// newFixture is dlqFixture with a lag cache of ttl; opts go to every Kafka
// client the DLQ makes.
func newFixture(t *testing.T, n int, ttl time.Duration, opts ...kgo.Opt) fixture {
	brokers := testenv.KafkaBrokers(t)
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	topic := "dlqtest-" + hex.EncodeToString(id)
	newClient := func(more ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, opts...), more...)...)
	}
	cl, err := newClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, topic, topic+".dlq"); err != nil {
		t.Fatal(err)
	}
	testenv.DeleteTopicsAtCleanup(t, brokers, topic, topic+".dlq")
	for i := range n {
		r := &kgo.Record{Topic: topic + ".dlq", Partition: int32(i % 2), Key: schemas.Key("acme", fmt.Sprintf("bad-%d", i)), Value: []byte(`{"v":9}`),
			Headers: []kgo.RecordHeader{{Key: schemas.HeaderVersion, Value: []byte("9")},
				{Key: schemas.HeaderDLQError, Value: []byte("undecodable record: unknown record version")},
				{Key: schemas.HeaderDLQSink, Value: []byte("postgres")}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	d := New(cl, newClient, querytest.Postgres(t), topic, topic+".dlq")
	lags := NewLagCache(d, []ReadModel{{"postgres", topic + "-pg"}, {"clickhouse", topic + "-ch"}}, ttl, prometheus.NewRegistry())
	h := Handler(d, lags, operatorAuth{}, httpapi.NewMetrics(prometheus.NewRegistry(), "test"), nil, slog.New(slog.DiscardHandler))
	return fixture{d: d, h: h, topic: topic, lags: lags}
}

func call(t *testing.T, h http.Handler, key, method, path, body string, out any) int {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	}
	return w.Code
}

// Four concurrent "re-drive all" requests put each of three dead-letter
// records into the event topic once, without the DLQ headers; afterwards the
// DLQ shows them re-driven and a fifth request re-drives nothing.
func TestRedriveIsExactlyOnce(t *testing.T) {
	_, h, topic := dlqFixture(t, 3)
	var before ListAnswer
	if code := call(t, h, "ops-admin", "GET", "/v1/admin/dlq", "", &before); code != http.StatusOK || before.Depth != 3 || len(before.Records) != 3 {
		t.Fatalf("list: %d %+v", code, before)
	}
	if r := before.Records[0]; r.TenantID != "acme" || !strings.HasPrefix(r.ID, "bad-") || r.Sink != "postgres" || !strings.Contains(r.Error, "unknown record version") {
		t.Fatalf("record: %+v", r)
	}
	var mu sync.Mutex
	var total RedriveAnswer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var a RedriveAnswer
			if code := call(t, h, "ops-admin", "POST", "/v1/admin/dlq/redrive", `{"all":true}`, &a); code != http.StatusOK {
				t.Errorf("redrive: %d", code)
			}
			mu.Lock()
			total.Redriven += a.Redriven
			total.Already += a.Already
			mu.Unlock()
		})
	}
	wg.Wait()
	if total.Redriven != 3 || total.Already != 9 {
		t.Fatalf("four concurrent re-drives of all: %+v, want 3 re-driven and 9 already", total)
	}
	got := readTopic(t, topic, 3)
	for _, r := range got {
		for _, hd := range r.Headers {
			if strings.HasPrefix(hd.Key, "pulsestream-dlq-") {
				t.Errorf("re-driven record %s keeps DLQ header %s", r.Key, hd.Key)
			}
		}
	}
	var after ListAnswer
	call(t, h, "ops-admin", "GET", "/v1/admin/dlq", "", &after)
	for _, r := range after.Records {
		if r.RedrivenAt == nil {
			t.Errorf("record %d/%d not shown re-driven", r.Partition, r.Offset)
		}
	}
	var again RedriveAnswer
	if call(t, h, "ops-admin", "POST", "/v1/admin/dlq/redrive", fmt.Sprintf(`{"records":[{"partition":%d,"offset":%d}]}`, after.Records[0].Partition, after.Records[0].Offset), &again); again != (RedriveAnswer{Already: 1}) || after.Depth != 0 {
		t.Fatalf("after: depth %d, re-drive of one again: %+v", after.Depth, again)
	}
}

// readTopic reads topic until want records came, then checks for one more
// second that no other arrives.
func readTopic(t *testing.T, topic string, want int) []*kgo.Record {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(testenv.KafkaBrokers(t), ",")...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		wait := time.Until(deadline)
		if len(got) >= want {
			wait = time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		waited := ctx.Err() != nil
		cancel()
		got = append(got, fs.Records()...)
		if len(got) >= want && waited {
			break
		}
	}
	if len(got) != want {
		t.Fatalf("%s holds %d records, want %d", topic, len(got), want)
	}
	return got
}

func TestBadRequestsChangeNothing(t *testing.T) {
	_, h, _ := dlqFixture(t, 1)
	for _, tc := range []struct {
		key, method, path, body string
		code                    int
	}{
		{"tenant-admin", "GET", "/v1/admin/dlq", "", http.StatusForbidden},
		{"nobody", "GET", "/v1/admin/dlq", "", http.StatusUnauthorized},
		{"ops-admin", "GET", "/v1/admin/dlq?limit=0", "", http.StatusBadRequest},
		{"ops-admin", "POST", "/v1/admin/dlq/redrive", `{}`, http.StatusBadRequest},
		{"ops-admin", "POST", "/v1/admin/dlq/redrive", `{"all":true,"records":[{"partition":0,"offset":0}]}`, http.StatusBadRequest},
		{"ops-admin", "POST", "/v1/admin/dlq/redrive", `{"all":true,"x":1}`, http.StatusBadRequest},
		{"ops-admin", "POST", "/v1/admin/dlq/redrive", `{"records":[{"partition":0,"offset":0},{"partition":1,"offset":99}]}`, http.StatusNotFound},
		{"tenant-admin", "POST", "/v1/admin/dlq/redrive", `{"all":true}`, http.StatusForbidden},
	} {
		if code := call(t, h, tc.key, tc.method, tc.path, tc.body, nil); code != tc.code {
			t.Errorf("%s %s %s as %s: %d, want %d", tc.method, tc.path, tc.body, tc.key, code, tc.code)
		}
	}
	var l ListAnswer
	if call(t, h, "ops-admin", "GET", "/v1/admin/dlq", "", &l); l.Depth != 1 {
		t.Fatalf("after refused requests the depth is %d, want 1", l.Depth)
	}
}

// The lag of a read model is the event topic's records its group has not
// committed (all of them for a group that never committed, none after it
// committed the end), and, as a time, the age of the oldest of them.
func TestLagCountsUncommittedRecordsAndTheOldestOnesAge(t *testing.T) {
	d, h, topic := dlqFixture(t, 0)
	ctx := context.Background()
	produced := time.Now()
	base := produced.Add(-100 * time.Second).Truncate(time.Millisecond) // record i was produced at base + i s
	for i := range 5 {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("acme/e-%d", i)), Value: []byte("{}"), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := d.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(d.cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	commit := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) { commit.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	if _, err := adm.CommitOffsets(ctx, topic+"-pg", commit); err != nil {
		t.Fatal(err)
	}
	var got LagReport
	before := time.Now()
	if code := call(t, h, "ops-admin", "GET", "/v1/admin/lag", "", &got); code != http.StatusOK {
		t.Fatalf("lag: %d", code)
	}
	asked := time.Since(base).Seconds() // the oldest record's age when the answer came
	if got.AsOf.Before(before) || got.AsOf.After(time.Now()) || got.AsOf.Location() != time.UTC {
		t.Errorf("as_of %v: want the time of the lookup, in UTC, within the call (from %v)", got.AsOf, before)
	}
	if len(got.ReadModels) != 2 {
		t.Fatalf("lag %+v, want two read models", got.ReadModels)
	}
	pg, ch := got.ReadModels[0], got.ReadModels[1]
	if pg.ReadModel != "postgres" || pg.Group != topic+"-pg" || pg.Records != 0 || pg.Seconds == nil || *pg.Seconds != 0 {
		t.Errorf("caught-up read model: %+v, want postgres, 0 records, 0 s", pg)
	}
	if ch.ReadModel != "clickhouse" || ch.Group != topic+"-ch" || ch.Records != 5 || ch.Seconds == nil || *ch.Seconds < 100 || *ch.Seconds > asked {
		t.Errorf("read model behind: %+v (seconds %v), want clickhouse, 5 records, the age of record 0: 100..%.1f s", ch, ch.Seconds, asked)
	} else if want := got.AsOf.Sub(base).Seconds(); math.Abs(*ch.Seconds-want) > 1e-6 {
		t.Errorf("read model behind: %v s, want its age at as_of, %v s", *ch.Seconds, want)
	}
}

// Before any gateway created the event topic, the log holds nothing: the
// lag lookup says every read model is caught up, and the DLQ is empty (it was a 503 "a read model
// did not answer", met by the API fuzz step of a fresh CI machine).
func TestLagOfATopicNobodyCreatedYetIsZeroAndItsDLQEmpty(t *testing.T) {
	f := newFixture(t, 0, 0)
	missing := f.topic + "-never-created"
	d := New(f.d.cl, f.d.reader, f.d.pool, missing, missing+".dlq")
	got, err := d.Lags(context.Background(), []ReadModel{{"postgres", missing + "-pg"}, {"clickhouse", missing + "-ch"}})
	if err != nil {
		t.Fatalf("lag of a topic nobody created: %v", err)
	}
	if len(got.ReadModels) != 2 || got.AsOf.IsZero() {
		t.Fatalf("lag %+v, want both read models as of now", got)
	}
	for _, m := range got.ReadModels {
		if m.Records != 0 || m.Seconds == nil || *m.Seconds != 0 {
			t.Errorf("read model %+v of an empty log: want 0 records, 0 s", m)
		}
	}
	if got.ReadModels[0].Group != missing+"-pg" || got.ReadModels[1].ReadModel != "clickhouse" {
		t.Errorf("read models %+v: want the configured ones, in order", got.ReadModels)
	}
	// Its DLQ topic neither: an empty DLQ, not an error.
	if recs, depth, err := d.List(context.Background(), 10); err != nil || len(recs) != 0 || depth != 0 {
		t.Errorf("DLQ nobody created: %d records, depth %d, %v; want none, 0, no error", len(recs), depth, err)
	}
	if depths, err := d.Depths(context.Background()); err != nil || len(depths) != 0 {
		t.Errorf("DLQ depths nobody created: %v, %v; want none, no error", depths, err)
	}
}

func TestReadModelsSetting(t *testing.T) {
	good := ReadModels{Groups: "postgres=g1, clickhouse=g2"}
	if m, err := good.Parse(); err != nil || len(m) != 2 || m[1] != (ReadModel{"clickhouse", "g2"}) {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "postgres", "postgres=", "=g", "a=b,,c=d"} {
		if (&ReadModels{Groups: bad}).Validate() == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// The Kafka protocol's API keys of the requests a lag lookup sends.
const (
	apiFetch       int16 = 1
	apiListOffsets int16 = 2
	apiOffsetFetch int16 = 9
)

// kafkaRequests counts the requests written to brokers, by API key (a
// kgo.HookBrokerWrite).
type kafkaRequests struct {
	mu sync.Mutex
	n  map[int16]int
}

func (k *kafkaRequests) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.n[key]++
}

// lagRequests are the counts of the requests a lag lookup sends:
// ListOffsets, OffsetFetch, Fetch.
func (k *kafkaRequests) lagRequests() [3]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return [3]int{k.n[apiListOffsets], k.n[apiOffsetFetch], k.n[apiFetch]}
}

// Within lag-cache-ttl, the admin API's GET /v1/admin/lag and the query
// API's GET /v1/lag (both through one LagCache) cost one set of Kafka
// requests: the second call sends none. Once the TTL has passed, eight
// calls at once send one more set. The clock is the test's, so nothing
// depends on how long anything takes.
func TestLagIsLookedUpOncePerCacheTTL(t *testing.T) {
	reqs := &kafkaRequests{n: map[int16]int{}}
	const ttl = 2 * time.Second
	f := newFixture(t, 0, ttl, kgo.WithHooks(reqs))
	ctx := context.Background()
	for i := range 3 { // nothing committed: both read models are 3 records behind
		if err := f.d.cl.ProduceSync(ctx, &kgo.Record{Topic: f.topic, Key: []byte(fmt.Sprintf("acme/e-%d", i)), Value: []byte("{}")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	clock := time.Now()
	f.lags.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	count := func(result string) int { return int(testutil.ToFloat64(f.lags.lookups.WithLabelValues(result))) }

	var admin LagReport
	if code := call(t, f.h, "ops-admin", "GET", "/v1/admin/lag", "", &admin); code != http.StatusOK || len(admin.ReadModels) != 2 || admin.ReadModels[1].Records != 3 {
		t.Fatalf("lag: %d %+v", code, admin.ReadModels)
	}
	first := reqs.lagRequests()
	tenant, err := f.lags.Lags(ctx) // what GET /v1/lag answers
	if err != nil {
		t.Fatal(err)
	}
	if again := reqs.lagRequests(); again != first || count(LagFetched) != 1 || count(LagCached) != 1 {
		t.Fatalf("a second call within the TTL: requests %v after the first's %v; %d fetched, %d cached", again, first, count(LagFetched), count(LagCached))
	}
	if a, b := jsonOf(t, tenant), jsonOf(t, admin); a != b { // as_of too: the cached answer tells its age
		t.Errorf("the second call answered %s, the first %s", a, b)
	}
	if slices.Contains(first[:], 0) {
		t.Errorf("one lookup sent %v ListOffsets, OffsetFetch and Fetch requests: the counting misses some", first)
	}

	mu.Lock()
	clock = clock.Add(ttl)
	mu.Unlock()
	var wg sync.WaitGroup
	asOf := make([]time.Time, 8)
	for i := range 8 {
		wg.Go(func() {
			r, err := f.lags.Lags(ctx)
			if err != nil {
				t.Error(err)
			}
			asOf[i] = r.AsOf
		})
	}
	wg.Wait()
	for _, at := range asOf { // one new lookup answered all eight
		if !at.Equal(asOf[0]) || !at.After(admin.AsOf) {
			t.Errorf("as_of after the TTL %v, want one time for all eight, after the first lookup's %v", asOf, admin.AsOf)
			break
		}
	}
	if count(LagFetched) != 2 || count(LagCached) != 8 || reqs.lagRequests() == first {
		t.Errorf("eight calls after the TTL: %d fetched, %d cached (want 2 and 8); requests %v, before %v", count(LagFetched), count(LagCached), reqs.lagRequests(), first)
	}
}

// A lookup of the lag also counts each tenant's dead letters not re-driven
// yet (GET /v1/lag gives each tenant its own): a re-driven one no longer
// counts.
func TestLagLookupCountsEachTenantsDeadLetters(t *testing.T) {
	f := newFixture(t, 3, 0) // three of acme
	ctx := context.Background()
	if err := f.d.cl.ProduceSync(ctx, &kgo.Record{Topic: f.topic + ".dlq", Key: schemas.Key("globex", "bad-g"), Value: []byte(`{"v":9}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r, err := f.lags.Lags(ctx)
	if err != nil || !maps.Equal(r.DLQDepths, map[string]int{"acme": 3, "globex": 1}) {
		t.Fatalf("DLQ depths %v (%v), want acme 3, globex 1", r.DLQDepths, err)
	}
	var list ListAnswer
	if code := call(t, f.h, "ops-admin", "GET", "/v1/admin/dlq", "", &list); code != http.StatusOK {
		t.Fatalf("list: %d", code)
	}
	i := slices.IndexFunc(list.Records, func(r Record) bool { return r.TenantID == "acme" })
	one := fmt.Sprintf(`{"records":[{"partition":%d,"offset":%d}]}`, list.Records[i].Partition, list.Records[i].Offset)
	if code := call(t, f.h, "ops-admin", "POST", "/v1/admin/dlq/redrive", one, nil); code != http.StatusOK {
		t.Fatalf("re-drive: %d", code)
	}
	if r, err = f.lags.Lags(ctx); err != nil || !maps.Equal(r.DLQDepths, map[string]int{"acme": 2, "globex": 1}) {
		t.Fatalf("after re-driving one of acme: DLQ depths %v (%v), want acme 2, globex 1", r.DLQDepths, err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
