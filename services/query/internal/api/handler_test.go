package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

// fakeStore answers from memory, or fails the test when a request that
// should have been refused reaches it.
type fakeStore struct {
	tb     testing.TB
	err    error // returned by every call when set
	refuse bool  // the test expects no store call
	events []store.Event
}

func (f *fakeStore) called() error {
	if f.refuse {
		f.tb.Error("a refused request reached the store")
	}
	return f.err
}

func (f *fakeStore) Get(_ context.Context, _, id string) (store.Event, error) {
	if err := f.called(); err != nil {
		return store.Event{}, err
	}
	for _, e := range f.events {
		if e.ID == id {
			return e, nil
		}
	}
	return store.Event{}, store.ErrNotFound
}

func (f *fakeStore) Search(_ context.Context, _ string, q store.SearchQuery) ([]store.Event, error) {
	if err := f.called(); err != nil {
		return nil, err
	}
	return f.events[:min(q.Limit, len(f.events))], nil
}

func (f *fakeStore) Stored(context.Context, string, string) (store.Stored, error) {
	return store.Stored{}, f.orNotFound()
}

func (f *fakeStore) Stats(context.Context, string, store.StatsQuery) (store.Stats, error) {
	if err := f.called(); err != nil {
		return store.Stats{}, err
	}
	return store.Stats{Buckets: []store.Bucket{}}, nil
}

func (f *fakeStore) Projected(context.Context, string, string) (store.Projected, error) {
	return store.Projected{}, f.orNotFound()
}

func (f *fakeStore) Accepted(context.Context, string, string) (markers.Marker, error) {
	return markers.Marker{}, f.orNotFound()
}

func (f *fakeStore) orNotFound() error {
	if err := f.called(); err != nil {
		return err
	}
	return store.ErrNotFound
}

func fakeServer(t *testing.T, f *fakeStore) string {
	return serve(t, api.Deps{Events: f, Stats: f, Markers: f, Auth: querytest.Auth{"k": "tenant-a"}})
}

func TestRefusedParametersNeverReachAStore(t *testing.T) {
	base := fakeServer(t, &fakeStore{tb: t, refuse: true})
	for _, c := range []struct {
		path  string
		q     url.Values
		param string
	}{
		{"/v1/events", url.Values{"limit": {"5000"}}, "limit"},
		{"/v1/events", url.Values{"cursor": {"garbage"}}, "cursor"},
		{"/v1/events", url.Values{"data": {"{"}}, "data"},
		{"/v1/events", url.Values{"from": {"2026-11-27T00:00:00Z"}, "to": {"2026-11-26T00:00:00Z"}}, "from"},
		{"/v1/stats", url.Values{"interval": {"fortnight"}}, "interval"},
		{"/v1/stats", url.Values{"group_by": {"subject"}}, "group_by"},
	} {
		st, d, _ := call(t, base, "k", c.path, c.q, nil)
		if st != http.StatusBadRequest || d.Parameter != c.param {
			t.Errorf("%s?%s: %d %+v, want 400 on %s", c.path, c.q.Encode(), st, d, c.param)
		}
	}
	if st, _, _ := call(t, base, "k", "/v1/events/"+url.PathEscape("bad\x01id"), nil, nil); st != http.StatusNotFound {
		t.Errorf("impossible id: %d, want 404", st)
	}
	if st, _, _ := call(t, base, "nope", "/v1/events", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("unknown key: %d, want 401", st)
	}
}

func TestFailingStoreIsA503WithRetryAfterNeverA500(t *testing.T) {
	for name, err := range map[string]error{"down": errors.New("connection refused"), "deadline": context.DeadlineExceeded} {
		base := fakeServer(t, &fakeStore{tb: t, err: err})
		for _, p := range []string{"/v1/events", "/v1/events/x", "/v1/events/x/status", "/v1/stats"} {
			st, d, h := call(t, base, "k", p, nil, nil)
			want := api.CodeUnavailable
			if name == "deadline" {
				want = api.CodeQueryTimeout
			}
			if st != http.StatusServiceUnavailable || d.Code != want || h.Get("Retry-After") == "" {
				t.Errorf("%s %s: %d %+v Retry-After %q, want 503 %s", name, p, st, d, h.Get("Retry-After"), want)
			}
		}
	}
}

func TestNextCursorAppearsOnlyWhenThereIsAnotherPage(t *testing.T) {
	ev := func(id string) store.Event { return store.Event{ID: id, Type: "t", Time: time.Unix(1, 0)} }
	base := fakeServer(t, &fakeStore{tb: t, events: []store.Event{ev("a"), ev("b"), ev("c")}})
	var p api.SearchPage
	call(t, base, "k", "/v1/events", url.Values{"limit": {"2"}}, &p)
	if len(p.Events) != 2 || p.NextCursor == "" {
		t.Errorf("limit 2 of 3: %d events, cursor %q", len(p.Events), p.NextCursor)
	}
	p = api.SearchPage{}
	call(t, base, "k", "/v1/events", url.Values{"limit": {"3"}}, &p)
	if len(p.Events) != 3 || p.NextCursor != "" {
		t.Errorf("limit 3 of 3: %d events, cursor %q", len(p.Events), p.NextCursor)
	}
}
