// Package schemas holds PulseStream's contracts: the JSON Schema of an event
// as producers send it, the OpenAPI documents of the HTTP APIs, and the
// versioned Kafka record format shared by the gateway (writer) and the
// projector (reader).
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
