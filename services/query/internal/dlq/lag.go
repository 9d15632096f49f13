package dlq

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// ReadModels names the projector's consumer group of each read model, for
// GET /v1/admin/lag: "postgres=<group>,clickhouse=<group>", and how long a
// lookup of their lag is answered again (LagCache).
type ReadModels struct {
	Groups   string
	CacheTTL time.Duration
}

// DefaultLagCacheTTL is lag-cache-ttl's default.
const DefaultLagCacheTTL = 2 * time.Second

// RegisterFlags defines read-model-groups and lag-cache-ttl.
func (c *ReadModels) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Groups, "read-model-groups", "postgres="+schemas.DefaultGroupPostgres+",clickhouse="+schemas.DefaultGroupClickHouse,
		"the projector's consumer group of each read model, name=group,... (the projector's projector-group-* settings), for the lag the admin API and the console show")
	fs.DurationVar(&c.CacheTTL, "lag-cache-ttl", DefaultLagCacheTTL,
		"how long the read models' lag, once looked up in Kafka, answers GET /v1/lag and GET /v1/admin/lag again (0: look up on every call)")
}

// Validate names a malformed read-model-groups or a negative lag-cache-ttl.
func (c *ReadModels) Validate() error {
	if c.CacheTTL < 0 {
		return fmt.Errorf("lag-cache-ttl: must not be negative, got %s", c.CacheTTL)
	}
	_, err := c.Parse()
	return err
}

// ReadModel is one read model and its consumer group.
type ReadModel struct{ Name, Group string }

// Parse splits Groups.
func (c *ReadModels) Parse() ([]ReadModel, error) {
	var out []ReadModel
	for _, part := range strings.Split(c.Groups, ",") {
		name, group, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || group == "" {
			return nil, fmt.Errorf("read-model-groups: want name=group,..., got %q", c.Groups)
		}
		out = append(out, ReadModel{name, group})
	}
	return out, nil
}

// Lag is how far one read model's consumer group is behind the event topic.
type Lag struct {
	ReadModel string `json:"read_model"`
	Group     string `json:"group"`
	// Records is the sum over the topic's partitions of end offset minus
	// committed offset (records not yet durable in the read model).
	Records int64 `json:"records"`
	// Seconds is the end-to-end lag as a time: the age of the oldest record
	// not yet durable in the read model at the report's AsOf (AsOf minus
	// its Kafka timestamp, the time the gateway produced it); 0 when the
	// read model is caught up, nil when that record could not be read
	// within the request.
	Seconds *float64 `json:"seconds"`
}

// LagReport is every read model's lag as measured at AsOf, the end of the
// lookup (the body of GET /v1/admin/lag). A cached report keeps its AsOf:
// it tells how old the answer is.
type LagReport struct {
	AsOf       time.Time `json:"as_of"`
	ReadModels []Lag     `json:"read_models"`
	// DLQDepths counts, per tenant, its records in the DLQ not re-driven
	// yet, read in the same lookup (GET /v1/lag gives each tenant its own);
	// nil when the DLQ could not be read.
	DLQDepths map[string]int `json:"-"`
}

// Lags returns the lag of every read model: per partition of the event
// topic, its end offset minus the group's committed offset (or the
// partition's start offset, when the group committed nothing there), and
// the age of the first record past the committed offset, all at one time.
//
// A topic that does not exist yet (no gateway has started to create it)
// holds nothing to project: every read model is caught up with it.
func (d *DLQ) Lags(ctx context.Context, models []ReadModel) (LagReport, error) {
	adm := kadm.NewClient(d.cl)
	starts, err := adm.ListStartOffsets(ctx, d.topic)
	if err == nil {
		err = starts.Error()
	}
	if noTopic(err) {
		return caughtUp(models), nil
	}
	if err != nil {
		return LagReport{}, fmt.Errorf("offsets of %s: %w", d.topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, d.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return LagReport{}, fmt.Errorf("offsets of %s: %w", d.topic, err)
	}
	out := make([]Lag, len(models))
	oldest := make([]*time.Time, len(models)) // per read model; nil: unknown, zero: caught up
	for i, m := range models {
		committed, err := adm.FetchOffsets(ctx, m.Group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return LagReport{}, fmt.Errorf("committed offsets of %s: %w", m.Group, err)
		}
		n, behind := uncommitted(starts, ends, committed)
		out[i] = Lag{ReadModel: m.Name, Group: m.Group, Records: n}
		if t, ok := d.oldest(ctx, behind); ok {
			oldest[i] = &t
		}
	}
	r := LagReport{AsOf: time.Now().UTC(), ReadModels: out}
	for i, t := range oldest {
		if t != nil {
			secs := 0.0
			if !t.IsZero() {
				secs = max(0, r.AsOf.Sub(*t).Seconds())
			}
			out[i].Seconds = &secs
		}
	}
	return r, nil
}

// caughtUp is the report of a log that holds nothing: no record and no
// second behind for any read model.
func caughtUp(models []ReadModel) LagReport {
	out := make([]Lag, len(models))
	for i, m := range models {
		secs := 0.0
		out[i] = Lag{ReadModel: m.Name, Group: m.Group, Seconds: &secs}
	}
	return LagReport{AsOf: time.Now().UTC(), ReadModels: out}
}

// uncommitted returns how many records of the topic a group has not
// committed and, per partition behind, the first offset not committed.
func uncommitted(starts, ends kadm.ListedOffsets, committed kadm.OffsetResponses) (n int64, behind map[int32]int64) {
	behind = map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		from := int64(0)
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
			from = s.Offset
		}
		if c, ok := committed.Lookup(e.Topic, e.Partition); ok && c.At > from {
			from = c.At
		}
		if e.Offset > from {
			n += e.Offset - from
			behind[e.Partition] = from
		}
	})
	return n, behind
}

// ageTimeout bounds the read of the oldest unwritten records.
const ageTimeout = 3 * time.Second

// oldest is the Kafka timestamp of the oldest record at or after the
// offsets of behind (zero when behind is empty); ok is false when they
// could not be read in time.
func (d *DLQ) oldest(ctx context.Context, behind map[int32]int64) (t time.Time, ok bool) {
	if len(behind) == 0 {
		return time.Time{}, true
	}
	from := make(map[int32]kgo.Offset, len(behind))
	for p, o := range behind {
		from[p] = kgo.NewOffset().At(o)
	}
	cl, err := d.reader(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.topic: from}))
	if err != nil {
		return time.Time{}, false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, ageTimeout)
	defer cancel()
	var oldest time.Time
	for len(behind) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return time.Time{}, false
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, open := behind[r.Partition]; !open {
				return
			}
			delete(behind, r.Partition)
			if oldest.IsZero() || r.Timestamp.Before(oldest) {
				oldest = r.Timestamp
			}
		})
	}
	return oldest, true
}

func (h *handler) lag(c *gin.Context) {
	lags, err := h.lags.Lags(c.Request.Context())
	if err != nil {
		h.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, lags)
}
