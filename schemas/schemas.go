// Package schemas holds PulseStream's contracts: the JSON Schema of an event
// as producers send it, the OpenAPI documents of the HTTP APIs, and the
// versioned Kafka record format shared by the gateway (writer) and the
// projector (reader).
//
// # Decoding records: why the wire format stayed version 1 JSON
//
// Decoding the event topic was ~61% of the projector's CPU through
// encoding/json (18 allocations per event, issue 14). Two ways out were
// weighed: a new record version with a binary envelope, or a reader of the
// current JSON without reflection. The second is what DecodeRecord does
// (decode.go): the JSON object the writer produces (appendEvent) is read
// field by field with `data` kept as a copy of its raw bytes, strings share
// one copy of the value, and times go through time.Time's own JSON decoder.
// That costs 3 allocations per event and, in the same session, about a
// fifth of encoding/json's time (docs/benchmarks.md). A binary envelope
// would still pay those 3 allocations and the time parse; it would only
// save scanning ~500 bytes of JSON, a fraction of the remaining cost, and
// would change what every consumer of the topic sees and impose a rollout
// order (readers before writers). Not worth it for that margin.
//
// The hand-written reader is only trusted where it is sure: any value it
// does not recognise completely (an escaped string, invalid UTF-8, a
// repeated, unknown or differently-cased name, extensions, null, deeper
// nesting than it tracks, anything invalid) is decoded by encoding/json
// instead, so verdicts and values are encoding/json's on every input;
// FuzzDecodeEventMatchesEncodingJSON and FuzzDecodeRecordMatchesReference
// check that differentially. The fast JSON libraries already in the module
// graph were not used: goccy/go-json keeps invalid UTF-8 that encoding/json
// replaces (a differential fuzz run found it), so the read models could
// disagree with the writer, and bytedance/sonic's speed rests on the same
// kind of shortcuts and on JIT code generation; neither can fall back to
// encoding/json for exactly the inputs where they would differ.
package schemas

import "embed"

// EventSchema is the JSON Schema (draft 2020-12) of one incoming event.
//
//go:embed event.schema.json
var EventSchema []byte

// EventSchemaURL is the $id of EventSchema.
const EventSchemaURL = "https://pulsestream.dev/schemas/event.v1.json"

// OpenAPI holds openapi/*.yaml, one document per HTTP API.
//
//go:embed openapi
var OpenAPI embed.FS
