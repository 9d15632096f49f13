package schemas

// The runtime couplings between the services besides the record format
// (record.go, codec.go) and the Redis "accepted" markers (package
// schemas/markers): names one service writes and another reads, declared
// once here so that the coupling shows in the imports. README.md's
// "Runtime couplings" lists who writes and who reads each.

// DLQ record headers: the projector copies a record it can never apply to
// the dead-letter topic with its own headers plus these.
const (
	HeaderDLQError     = "pulsestream-dlq-error"            // why the record was refused
	HeaderDLQTopic     = "pulsestream-dlq-source-topic"     // where it was read
	HeaderDLQPartition = "pulsestream-dlq-source-partition" // decimal
	HeaderDLQOffset    = "pulsestream-dlq-source-offset"    // decimal
	HeaderDLQSink      = "pulsestream-dlq-sink"             // the read model that refused it
)

// Default consumer groups of the projector, one per read model. The
// gateway's erasure worker reads the committed offsets of the PostgreSQL
// group to wait until the read model holds every event accepted before an
// erasure started, so the two defaults must name the same group.
const (
	DefaultGroupPostgres   = "pulsestream-projector-postgres"
	DefaultGroupClickHouse = "pulsestream-projector-clickhouse"
)

// EventsTable is the PostgreSQL read model (migrations/postgres/00002_events.sql):
// one row per (tenant_id, external_id), written by the projector, read by
// the query service and the gateway's erasure worker.
const EventsTable = "events"

// EventsColumns are the columns of EventsTable the projector writes, in the
// table's order; the table has one more, stored_at, which PostgreSQL fills.
// The projector's staging table is derived from the table (LIKE events)
// and copies these; a test keeps this list equal to the migrated table.
var EventsColumns = []string{"tenant_id", "external_id", "ingest_id", "type", "source", "subject", "event_time",
	"received_at", "datacontenttype", "data", "data_base64", "extensions", "content_hash", "kafka_partition", "kafka_offset", "deleted_at"}
