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
// Measured in one session (docs/benchmarks.md): 1.5 µs and 3 allocations per
// event instead of 7.7 µs and 18, and the projector's CPU in a backlog drain
// of both sinks fell from 42-43 to 20.5-21.5 CPU-s per million events (33-38
// to 18-23 in a second pair of runs, 38.3 to 18.9 once each sink decoded
// every record). What
// any format must still do (allocate the event, copy its strings and data,
// parse two times) measured 0.3-0.4 µs, so a binary envelope could save at
// most ~1.1 µs per event, about 5% of the projector's remaining CPU, while
// changing what every consumer of the topic sees and imposing a rollout order
// (readers before writers). Not worth it for that margin.
//
// The hand-written reader is only trusted where it is sure: any value it
// does not recognise completely (an escaped string, invalid UTF-8, a
// repeated, unknown or differently-cased name, extensions, null, deeper
// nesting than it tracks, anything invalid) is decoded by encoding/json
// instead, so verdicts and values are encoding/json's on every input;
// FuzzDecodeEventMatchesEncodingJSON and FuzzDecodeRecordMatchesReference
// check that differentially. The fast JSON libraries already in the module
// graph were measured too: goccy/go-json (1.4-1.7 µs, 6 allocations) and
// bytedance/sonic's default config (1.3-1.8 µs, 4) keep invalid UTF-8 that
// encoding/json replaces and accept control characters in strings (goccy
// also invalid JSON inside data), so the read models could disagree with the
// writer; sonic's standard-compatible config agreed on those inputs but took
// 2.3-2.7 µs and 11 allocations.
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
