// Package schemacheck applies the tenants' event schemas (tenancy/
// eventschemas) to decoded events at the gateway: per event, the mode of its
// type (off, warn, enforce) and the schema version its dataschema attribute
// names, or the current one.
//
// The rules of every tenant with schemas or settings are held in memory with
// their compiled schemas, in a map replaced as a whole on change (copy on
// write, read without locks): a tenant without any pays one map lookup per
// request. Changes arrive by PostgreSQL LISTEN/NOTIFY (platform/pgnotify,
// the registry's triggers), so every gateway replica applies a new version
// within one notification's round trip, with a full reload on reconnection
// and every poll interval as the fallback. Compiled versions are immutable
// and kept per (tenant, type, version); an older version named by
// dataschema is read from PostgreSQL once, then kept.
package schemacheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsestream/pulsestream/platform/pgnotify"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

// Per-event codes. Part of the API.
const (
	// CodeSchemaViolation: data does not match the type's schema.
	CodeSchemaViolation = "schema_violation"
	// CodeUnknownType: no schema is registered for the type while its mode
	// checks events.
	CodeUnknownType = "unknown_type"
	// CodeUnknownSchemaVersion: dataschema names a version that does not exist.
	CodeUnknownSchemaVersion = "unknown_schema_version"
	// CodeUnavailable: the version could not be read now (retry); the same
	// code as an event Kafka did not acknowledge.
	CodeUnavailable = "unavailable"
)

// Store is what the checker reads of the registry (*eventschemas.Registry).
type Store interface {
	LoadRules(ctx context.Context, tenant string) (map[string]*eventschemas.TenantRules, error)
	Document(ctx context.Context, tenant, typ string, version int) ([]byte, error)
}

type versionKey struct {
	tenant, typ string
	version     int
}

// tenantState is one tenant's rules with the compiled current schemas.
type tenantState struct {
	rules *eventschemas.TenantRules
	types map[string]typeState // one lookup per event
}

// typeState is what applies to one type: its mode and current schema
// (nil: none).
type typeState struct {
	mode    eventschemas.Mode
	version int
	schema  *eventschemas.Schema
}

// of is what applies to events of typ.
func (st *tenantState) of(typ string) typeState {
	if t, ok := st.types[typ]; ok {
		return t
	}
	return typeState{mode: st.rules.Settings.Mode}
}

// Checker is the gateway's view of every tenant's schemas. It implements
// pgnotify.Handler (payload: a tenant id).
type Checker struct {
	store    Store
	logger   *slog.Logger
	tenants  atomic.Pointer[map[string]*tenantState]
	mu       sync.Mutex // serializes reloads
	compiled sync.Map   // versionKey -> *eventschemas.Schema
	loads    *prometheus.CounterVec
	checked  *prometheus.CounterVec
}

// New returns a checker with no rules until the first Resync.
func New(store Store, reg prometheus.Registerer, logger *slog.Logger) *Checker {
	f := promauto.With(reg)
	c := &Checker{store: store, logger: logger,
		loads: f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_gateway_schema_reloads_total",
			Help: "Reloads of tenants' event schemas, by kind (tenant: after a notification; all: resync) and result."}, []string{"kind", "result"}),
		checked: f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_gateway_schema_checks_total",
			Help: "Events checked against a tenant's schema, by mode and verdict."}, []string{"mode", "verdict"}),
	}
	empty := map[string]*tenantState{}
	c.tenants.Store(&empty)
	return c
}

// Rules are the tenant's rules (nil: none).
func (c *Checker) Rules(tenant string) *eventschemas.TenantRules {
	if st := (*c.tenants.Load())[tenant]; st != nil {
		return st.rules
	}
	return nil
}

// Notify reloads one tenant (pgnotify.Handler).
func (c *Checker) Notify(ctx context.Context, tenant string) {
	c.reload(ctx, tenant)
}

// Resync reloads every tenant (pgnotify.Handler).
func (c *Checker) Resync(ctx context.Context) {
	c.reload(ctx, "")
}

// reload reads the rules of one tenant (or all: "") and swaps them in.
func (c *Checker) reload(ctx context.Context, tenant string) {
	kind := "tenant"
	if tenant == "" {
		kind = "all"
	}
	rules, err := c.store.LoadRules(ctx, tenant)
	if err != nil {
		c.loads.WithLabelValues(kind, "error").Inc()
		c.logger.Warn("event schemas not reloaded; keeping the previous ones", "tenant", tenant, "err", err)
		return
	}
	c.loads.WithLabelValues(kind, "ok").Inc()
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]*tenantState, len(*c.tenants.Load())+1)
	if tenant != "" {
		for id, st := range *c.tenants.Load() {
			next[id] = st
		}
		delete(next, tenant)
	}
	for id, r := range rules {
		next[id] = c.state(id, r)
	}
	c.tenants.Store(&next)
}

// state compiles (or finds compiled) the current schema of each type.
func (c *Checker) state(tenant string, r *eventschemas.TenantRules) *tenantState {
	st := &tenantState{rules: r, types: make(map[string]typeState, len(r.Types))}
	for typ, tr := range r.Types {
		ts := typeState{mode: tr.Mode}
		if tr.Version > 0 {
			s, err := c.compile(versionKey{tenant, typ, tr.Version}, tr.Document)
			if err != nil {
				c.logger.Error("stored event schema does not compile", "tenant", tenant, "type", typ, "version", tr.Version, "err", err)
			} else {
				ts.schema, ts.version = s, tr.Version
			}
		}
		st.types[typ] = ts
	}
	return st
}

func (c *Checker) compile(k versionKey, doc []byte) (*eventschemas.Schema, error) {
	if s, ok := c.compiled.Load(k); ok {
		return s.(*eventschemas.Schema), nil
	}
	s, err := eventschemas.Compile(doc)
	if err != nil {
		return nil, err
	}
	c.compiled.Store(k, s)
	return s, nil
}

// Version is the current schema version of the tenant's type as this
// checker applies it (0: none).
func (c *Checker) Version(tenant, typ string) int {
	if st := (*c.tenants.Load())[tenant]; st != nil {
		return st.of(typ).version
	}
	return 0
}

// Check applies the tenant's schemas to the valid events of items: in
// enforce mode a violation rejects the event, in warn mode it is added to
// the event's warnings.
func (c *Checker) Check(ctx context.Context, tenant string, items []decode.Item) {
	st := (*c.tenants.Load())[tenant]
	if st == nil {
		return // the common case: a tenant without schemas
	}
	var valid [2]int // by mode: warn, enforce (counted once per request)
	for i := range items {
		it := &items[i]
		if it.Reject != nil {
			continue
		}
		ts := st.of(it.Event.Type)
		if ts.mode == eventschemas.ModeOff {
			continue
		}
		v := c.verdict(ctx, tenant, ts, &it.Event)
		enforce := ts.mode == eventschemas.ModeEnforce
		switch {
		case v == nil && enforce:
			valid[1]++
		case v == nil:
			valid[0]++
		case enforce:
			c.checked.WithLabelValues(string(ts.mode), v.Code).Inc()
			it.Reject = v
		default:
			c.checked.WithLabelValues(string(ts.mode), v.Code).Inc()
			it.Warnings = append(it.Warnings, *v)
		}
	}
	for k, mode := range []eventschemas.Mode{eventschemas.ModeWarn, eventschemas.ModeEnforce} {
		if valid[k] > 0 {
			c.checked.WithLabelValues(string(mode), "valid").Add(float64(valid[k]))
		}
	}
}

// Validate is the verdict of the tenant's current schema of the event's
// type on one event, whatever the type's mode (nil: it passes; an event of
// a type without a schema passes only when its mode is off): what a
// quarantine replay asks.
func (c *Checker) Validate(ctx context.Context, tenant string, ev *decode.Item) *decode.Reject {
	st := (*c.tenants.Load())[tenant]
	if st == nil {
		return nil
	}
	ts := st.of(ev.Event.Type)
	if ts.schema == nil && ts.mode == eventschemas.ModeOff {
		return nil
	}
	return c.verdict(ctx, tenant, ts, &ev.Event)
}

// verdict checks one event's data against the version dataschema names
// (or the current one).
func (c *Checker) verdict(ctx context.Context, tenant string, ts typeState, ev *schemas.Event) *decode.Reject {
	s, version, typ := ts.schema, ts.version, ev.Type
	if n, ok := ParseDataSchema(ev.DataSchema); ok && n != version {
		var err error
		if s, err = c.older(ctx, tenant, typ, n); errors.Is(err, eventschemas.ErrVersionNotFound) {
			return &decode.Reject{Code: CodeUnknownSchemaVersion, Pointer: "/dataschema", SchemaVersion: n,
				Message: fmt.Sprintf("dataschema names version %d of type %q, which does not exist", n, typ)}
		} else if err != nil {
			c.logger.Warn("event schema version not readable", "tenant", tenant, "type", typ, "version", n, "err", err)
			return &decode.Reject{Code: CodeUnavailable, Pointer: "/dataschema", SchemaVersion: n,
				Message: "the schema version named by dataschema could not be read; retry"}
		}
		version = n
	}
	if s == nil {
		return &decode.Reject{Code: CodeUnknownType, Pointer: "/type",
			Message: fmt.Sprintf("no schema is registered for type %q, and this type's mode checks events", typ)}
	}
	if ev.DataBase64 != "" {
		return &decode.Reject{Code: CodeSchemaViolation, Pointer: "/data_base64", SchemaVersion: version,
			Message: "the type has a JSON Schema but the event carries binary data"}
	}
	if viol := s.ValidateValid(ev.Data); viol != nil { // the decoder checked data's JSON and UTF-8
		return &decode.Reject{Code: CodeSchemaViolation, Pointer: viol.Pointer, Message: viol.Message, SchemaVersion: version}
	}
	return nil
}

// older is a version other than the current one, read once.
func (c *Checker) older(ctx context.Context, tenant, typ string, n int) (*eventschemas.Schema, error) {
	k := versionKey{tenant, typ, n}
	if s, ok := c.compiled.Load(k); ok {
		return s.(*eventschemas.Schema), nil
	}
	doc, err := c.store.Document(ctx, tenant, typ, n)
	if err != nil {
		return nil, err
	}
	return c.compile(k, doc)
}

// ParseDataSchema reads the schema version a dataschema attribute names:
// a URI or path ending in /versions/<n> (as the admin API names them), or a
// bare positive integer. Anything else names no version of ours.
func ParseDataSchema(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	if i := strings.LastIndex(s, "/versions/"); i >= 0 {
		s = s[i+len("/versions/"):]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// Config is how the checker learns of changes.
type Config struct {
	PollInterval  time.Duration
	RetryInterval time.Duration
}

// RegisterFlags defines the schema-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PollInterval, "schema-poll-interval", 30*time.Second, "reload every tenant's event schemas this often, in case a change notification was lost (changes normally arrive at once by PostgreSQL NOTIFY)")
	fs.DurationVar(&c.RetryInterval, "schema-retry-interval", time.Second, "wait between attempts to listen for schema changes when PostgreSQL is unreachable")
}

// Validate names a bad setting.
func (c *Config) Validate() error {
	if err := (pgnotify.Config{PollInterval: c.PollInterval, RetryInterval: c.RetryInterval}).Validate(); err != nil {
		return fmt.Errorf("schema-poll-interval/schema-retry-interval: %w", err)
	}
	return nil
}

// Listen returns the listener that keeps c current from pool's NOTIFYs.
func (c *Checker) Listen(pool *pgxpool.Pool, cfg Config) *pgnotify.Listener {
	return pgnotify.New(pool, eventschemas.NotifyChannel, c, pgnotify.Config{PollInterval: cfg.PollInterval, RetryInterval: cfg.RetryInterval}, c.logger)
}
