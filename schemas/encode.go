package schemas

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// valueCap is a little more than appendEvent writes for ev, so the value
// is built in one allocation (escapes and extensions may still grow it).
func valueCap(ev *Event) int {
	return 256 + len(ev.TenantID) + len(ev.IngestID) + len(ev.ContentHash) + len(ev.ID) + len(ev.Type) + len(ev.Source) +
		len(ev.Subject) + len(ev.DataContentType) + len(ev.DataSchema) + len(ev.Data) + len(ev.DataBase64) + 64*len(ev.Extensions)
}

// appendEvent appends the version 1 JSON of ev exactly as encoding/json
// would decode back into an Event (same names, same omitempty rules; "v" is
// always 1), but without reflection and with Data copied as sent: the
// event's data is never decoded or re-encoded on its way to Kafka.
// TestEventValueMatchesEncodingJSON and FuzzEventRecordRoundTrip check it
// against encoding/json.
func appendEvent(b []byte, ev *Event) []byte {
	b = appendField(b, `{"v":1,"tenant_id":`, ev.TenantID)
	b = appendField(b, `,"ingest_id":`, ev.IngestID)
	b = appendTime(b, `,"received_at":`, ev.ReceivedAt)
	b = appendField(b, `,"content_hash":`, ev.ContentHash)
	b = appendField(b, `,"id":`, ev.ID)
	b = appendField(b, `,"type":`, ev.Type)
	b = appendOptional(b, `,"source":`, ev.Source)
	b = appendOptional(b, `,"subject":`, ev.Subject)
	b = appendTime(b, `,"time":`, ev.Time)
	b = appendOptional(b, `,"datacontenttype":`, ev.DataContentType)
	b = appendOptional(b, `,"dataschema":`, ev.DataSchema)
	if len(ev.Extensions) > 0 {
		// Rare and small: extension values are strings, numbers or booleans.
		if ext, err := json.Marshal(ev.Extensions); err == nil {
			b = append(b, `,"extensions":`...)
			b = append(b, ext...)
		}
	}
	if len(ev.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, ev.Data...)
	}
	b = appendOptional(b, `,"data_base64":`, ev.DataBase64)
	return append(b, '}')
}

// appendField appends key (the JSON up to the value) and s as a JSON string.
func appendField(b []byte, key, s string) []byte {
	return appendString(append(b, key...), s)
}

// appendOptional is appendField for an omitempty field.
func appendOptional(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendField(b, key, s)
}

// appendTime appends key and t as encoding/json writes a time.Time.
func appendTime(b []byte, key string, t time.Time) []byte {
	b = append(b, key...)
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as the record encoder
// escapes (the gateway writes its answers with it too).
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }

// appendString appends s as a JSON string. s is valid UTF-8 (the decoder
// refused anything else); invalid bytes would become U+FFFD as in encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
