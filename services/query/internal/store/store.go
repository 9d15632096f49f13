// Package store reads PulseStream's read models for the query API:
// PostgreSQL (pgx/v5, mandated) for lookups, search and the stored state of
// an event; ClickHouse (clickhouse-go/v2, mandated) for statistics and the
// projected state; Redis (go-redis/v9) for the gateway's "accepted" markers
// (platform/markers codec). Every method takes the tenant explicitly and puts
// it in the first predicate of every statement, so no query can cross tenants.
package store

import (
	"encoding/json"
	"time"

	"github.com/pulsestream/pulsestream/services/query/internal/cursor"
)

// Filter selects events of one tenant. Zero values do not filter.
type Filter struct {
	Types   []string
	Source  string
	Subject string
	From    time.Time // inclusive
	To      time.Time // exclusive
	// Data is a JSON object the event's data must contain (jsonb @>).
	Data json.RawMessage
}

// SearchQuery is one page of a search.
type SearchQuery struct {
	Filter
	Asc   bool             // oldest first; newest first otherwise
	After *cursor.Position // keyset position: rows strictly after it in the order
	Limit int
}

// Event is one stored event as the API returns it (CloudEvents attribute names).
type Event struct {
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Source          string          `json:"source,omitempty"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      string          `json:"data_base64,omitempty"`
	Extensions      json.RawMessage `json:"extensions,omitempty"`
	ReceivedAt      *time.Time      `json:"received_at,omitempty"`
	IngestID        string          `json:"ingest_id,omitempty"`
}

// Position is the keyset position of e.
func (e Event) Position() cursor.Position {
	return cursor.Position{Time: e.Time, ExternalID: e.ID}
}

// StatsQuery asks for counts over [From, To).
type StatsQuery struct {
	Filter
	Interval string // minute | hour | day
	GroupBy  string // type | source | none
	Top      int    // number of top types to return; 0 for none
	// NoSubjects leaves out the unique-subject counts: without them a query
	// the per-minute rollup can answer (see Rollup) reads the rollup
	// instead of the events.
	NoSubjects bool
}

// Bucket is the count of one time bucket (and group, when grouped).
type Bucket struct {
	Start          time.Time `json:"start"`
	Group          *string   `json:"group,omitempty"`
	Count          uint64    `json:"count"`
	UniqueSubjects *uint64   `json:"unique_subjects,omitempty"` // nil: not asked for (NoSubjects)
}

// TypeCount is one entry of the top types.
type TypeCount struct {
	Type  string `json:"type"`
	Count uint64 `json:"count"`
}

// Stats is the answer to a StatsQuery.
type Stats struct {
	Total          uint64      `json:"total"`
	UniqueSubjects *uint64     `json:"unique_subjects,omitempty"` // nil: not asked for (NoSubjects)
	Buckets        []Bucket    `json:"buckets"`
	TopTypes       []TypeCount `json:"top_types,omitempty"`
}

// Stored is an event's row in PostgreSQL (deleted ones included).
type Stored struct {
	StoredAt  time.Time
	Partition int32
	Offset    int64
	DeletedAt *time.Time
}

// Projected is an event's latest row version in ClickHouse.
type Projected struct {
	ProjectedAt time.Time
	Partition   int32
	Offset      int64
	Deleted     bool
}

func timeMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
