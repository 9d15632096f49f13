package ingest

import (
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/schemas"
)

// The answer is written without reflection: appendResponse produces the
// JSON encoding/json would (the same document; strings escaped by the record
// encoder's schemas.AppendJSONString, which does not HTML-escape), at a fraction of the
// cost, into a pooled buffer (TestAppendResponseMatchesEncodingJSON).

// jsonContentType is shared by every answer (net/http copies header values
// when it writes them; nothing appends to this slice).
var jsonContentType = []string{"application/json; charset=utf-8"}

var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeResponse answers status with r as JSON.
func writeResponse(c *gin.Context, status int, r *Response) {
	bp := respBufs.Get().(*[]byte)
	*bp = appendResponse((*bp)[:0], r)
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Status(status)
	_, _ = c.Writer.Write(*bp)
	if cap(*bp) <= 1<<20 { // do not keep a huge batch's buffer
		respBufs.Put(bp)
	}
}

// appendResponse appends r as encoding/json would marshal it.
func appendResponse(b []byte, r *Response) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(r.Accepted), 10)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendInt(b, int64(r.Duplicate), 10)
	b = append(b, `,"rejected":`...)
	b = strconv.AppendInt(b, int64(r.Rejected), 10)
	b = append(b, `,"results":`...)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Results {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendResult(b, &r.Results[i])
		}
		b = append(b, ']')
	}
	if r.Error != nil {
		b = append(b, `,"error":`...)
		b = appendDetail(b, r.Error)
	}
	return append(b, '}')
}

func appendResult(b []byte, r *Result) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(r.Index), 10)
	b = append(b, `,"id":`...)
	b = schemas.AppendJSONString(b, r.ID)
	b = append(b, `,"status":`...)
	b = schemas.AppendJSONString(b, r.Status)
	b = appendOptString(b, `,"code":`, r.Code)
	b = appendOptString(b, `,"message":`, r.Message)
	b = appendOptString(b, `,"ingest_id":`, r.IngestID)
	if r.Partition != nil {
		b = append(b, `,"partition":`...)
		b = strconv.AppendInt(b, int64(*r.Partition), 10)
	}
	if r.Offset != nil {
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, *r.Offset, 10)
	}
	b = appendOptString(b, `,"pointer":`, r.Pointer)
	b = appendOptInt(b, `,"schema_version":`, r.SchemaVersion)
	b = appendOptString(b, `,"quarantine_id":`, r.QuarantineID)
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendWarning(b, &r.Warnings[i])
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendWarning(b []byte, w *Warning) []byte {
	b = append(b, `{"code":`...)
	b = schemas.AppendJSONString(b, w.Code)
	b = append(b, `,"message":`...)
	b = schemas.AppendJSONString(b, w.Message)
	b = appendOptString(b, `,"pointer":`, w.Pointer)
	b = appendOptInt(b, `,"schema_version":`, w.SchemaVersion)
	return append(b, '}')
}

func appendOptInt(b []byte, key string, n int) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), int64(n), 10)
}

func appendDetail(b []byte, d *apierror.Detail) []byte {
	b = append(b, `{"code":`...)
	b = schemas.AppendJSONString(b, d.Code)
	b = append(b, `,"message":`...)
	b = schemas.AppendJSONString(b, d.Message)
	b = appendOptString(b, `,"parameter":`, d.Parameter)
	if d.Offset != nil {
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, *d.Offset, 10)
	}
	return append(b, '}')
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return schemas.AppendJSONString(append(b, key...), s)
}
