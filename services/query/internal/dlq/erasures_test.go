package dlq

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
)

// GET /v1/admin/erasures lists erasures newest first with their progress,
// for one tenant when asked, never the subject; only the operator may.
func TestErasuresAreListedWithTheirProgressForTheOperatorOnly(t *testing.T) {
	d, h, _ := dlqFixture(t, 0)
	a, b := querytest.Tenant(t), querytest.Tenant(t)
	t0 := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond) // newer than any other test's rows
	for i, e := range []struct {
		tenant, state string
		erased        int64
	}{{a, "done", 40}, {a, "running", 7}, {b, "pending", 0}} {
		subject := "person-" + fmt.Sprint(i)
		if e.state == "done" {
			subject = ""
		}
		if _, err := d.pool.Exec(context.Background(), `INSERT INTO erasures (id, tenant_id, topic, subject, subject_sha256, state, erased, requested_by, requested_at, started_at, finished_at)
			VALUES ($1, $2, 't', NULLIF($3, ''), 'sha-' || $1, $4, $5, 'key:ab12', $6, CASE WHEN $4 <> 'pending' THEN $6::timestamptz END, CASE WHEN $4 = 'done' THEN $6::timestamptz END)`,
			fmt.Sprintf("%s-%d", e.tenant, i), e.tenant, subject, e.state, e.erased, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var got ErasuresAnswer
	if code := call(t, h, "ops-admin", "GET", "/v1/admin/erasures?tenant="+a, "", &got); code != http.StatusOK {
		t.Fatalf("erasures: %d", code)
	}
	if got.Open != 1 || len(got.Erasures) != 2 {
		t.Fatalf("tenant %s: %+v, want 2 erasures, 1 open", a, got)
	}
	run, done := got.Erasures[0], got.Erasures[1]
	if run.ID != a+"-1" || run.State != "running" || run.Erased != 7 || run.StartedAt == nil || run.FinishedAt != nil || run.RequestedBy != "key:ab12" {
		t.Errorf("newest: %+v", run)
	}
	if done.ID != a+"-0" || done.State != "done" || done.Erased != 40 || done.FinishedAt == nil || done.SubjectSHA256 != "sha-"+a+"-0" {
		t.Errorf("oldest: %+v", done)
	}
	var all ErasuresAnswer
	if code := call(t, h, "ops-admin", "GET", "/v1/admin/erasures?limit=1", "", &all); code != http.StatusOK || len(all.Erasures) != 1 || all.Erasures[0].ID != b+"-2" || all.Open < 2 {
		t.Errorf("all tenants, limit 1: %d %+v", code, all)
	}
	for key, want := range map[string]int{"tenant-admin": http.StatusForbidden, "nobody": http.StatusUnauthorized} {
		if code := call(t, h, key, "GET", "/v1/admin/erasures", "", nil); code != want {
			t.Errorf("as %s: %d, want %d", key, code, want)
		}
	}
	if code := call(t, h, "ops-admin", "GET", "/v1/admin/erasures?limit=0", "", nil); code != http.StatusBadRequest {
		t.Errorf("limit=0: %d, want 400", code)
	}
}
