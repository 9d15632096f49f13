package dlq

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pulsestream/pulsestream/schemas"
)

// ReadModels names the projector's consumer group of each read model, for
// GET /v1/admin/lag: "postgres=<group>,clickhouse=<group>".
type ReadModels struct {
	Groups string
}

// RegisterFlags defines read-model-groups.
func (c *ReadModels) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Groups, "read-model-groups", "postgres="+schemas.DefaultGroupPostgres+",clickhouse="+schemas.DefaultGroupClickHouse,
		"the projector's consumer group of each read model, name=group,... (the projector's projector-group-* settings), for the lag the admin API and the console show")
}

// Validate names a malformed read-model-groups.
func (c *ReadModels) Validate() error {
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
}

// Lags returns the lag of every read model: per partition of the event
// topic, its end offset minus the group's committed offset (or the
// partition's start offset, when the group committed nothing there).
func (d *DLQ) Lags(ctx context.Context, models []ReadModel) ([]Lag, error) {
	adm := kadm.NewClient(d.cl)
	starts, err := adm.ListStartOffsets(ctx, d.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", d.topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, d.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", d.topic, err)
	}
	out := make([]Lag, 0, len(models))
	for _, m := range models {
		committed, err := adm.FetchOffsets(ctx, m.Group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("committed offsets of %s: %w", m.Group, err)
		}
		var n int64
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
			}
		})
		out = append(out, Lag{ReadModel: m.Name, Group: m.Group, Records: n})
	}
	return out, nil
}

func (h *handler) lag(c *gin.Context) {
	lags, err := h.d.Lags(c.Request.Context(), h.models)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"read_models": lags})
}
