package pulsestream

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/gzip"
)

var bufs = bufPool{}

type bufPool struct{ p sync.Pool }

func (b *bufPool) Get() *bytes.Buffer {
	if v := b.p.Get(); v != nil {
		buf := v.(*bytes.Buffer)
		buf.Reset()
		return buf
	}
	return new(bytes.Buffer)
}

func (b *bufPool) Put(buf *bytes.Buffer) {
	if buf.Cap() <= 16<<20 {
		b.p.Put(buf)
	}
}

// encode writes items as one JSON array, gzip-compressed unless disabled.
func (c *Client) encode(items []*item) *bytes.Buffer {
	out := bufs.Get()
	if c.cfg.DisableGzip {
		writeArray(out, items)
		return out
	}
	zw, _ := c.gzip.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(out, gzip.BestSpeed)
	} else {
		zw.Reset(out)
	}
	writeArray(zw, items)
	_ = zw.Close() // writes to a bytes.Buffer cannot fail
	c.gzip.Put(zw)
	return out
}

type writer interface {
	Write([]byte) (int, error)
}

func writeArray(w writer, items []*item) {
	sep := []byte{'['}
	for _, it := range items {
		_, _ = w.Write(sep)
		_, _ = w.Write(it.body)
		sep[0] = ','
	}
	_, _ = w.Write([]byte{']'})
}
