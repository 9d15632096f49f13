package importer

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
)

// checkpoint is what the state file holds: every record up to Records
// (counted from the start of the input) has its final outcome, and the
// rejects file held exactly those records' rejections when it was written
// (RejectsBytes).
type checkpoint struct {
	Input        string `json:"input"`
	HeadSHA256   string `json:"head_sha256"` // of the input's first 64 KiB: a different file is not resumed
	Records      int64  `json:"records"`
	RejectsBytes int64  `json:"rejects_bytes"`
	Accepted     int64  `json:"accepted"`
	Duplicate    int64  `json:"duplicate"`
	Rejected     int64  `json:"rejected"`
}

func headHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, 64<<10); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func loadCheckpoint(path string) (checkpoint, error) {
	var cp checkpoint
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("state file %s: %w", path, err)
	}
	return cp, nil
}

// save writes cp atomically (temporary file, fsync, rename).
func (cp checkpoint) save(path string) error {
	b, _ := json.MarshalIndent(cp, "", "  ")
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rejection is one line of the rejects file.
type rejection struct {
	Line    int64           `json:"line"`
	ID      string          `json:"id,omitempty"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Event   json.RawMessage `json:"event,omitempty"`
	Raw     string          `json:"raw,omitempty"` // a record that is not JSON, as text
}

// ledger follows outcomes, which arrive out of order, and advances the
// checkpoint over the longest prefix of records that all have a final one
// (accepted, duplicate, rejected; a failed record stops it). Rejections are
// written to the rejects file only as the prefix passes them, so the file
// and the checkpoint always agree, and a resumed run writes none twice.
type ledger struct {
	mu       sync.Mutex
	cp       checkpoint
	next     int64         // the first record not yet in the prefix (1-based number)
	finished map[int64]fin // records past the prefix with a final outcome
	rejects  *bufio.Writer
	rf       *os.File
	written  int64
}

// fin is a final outcome: its status (empty for a blank line) and, when
// rejected, the rejects file's line.
type fin struct {
	status pulsestream.Status
	rej    *rejection
}

func newLedger(cp checkpoint, rf *os.File) *ledger {
	return &ledger{cp: cp, next: cp.Records + 1, finished: map[int64]fin{}, rejects: bufio.NewWriterSize(rf, 256<<10),
		rf: rf, written: cp.RejectsBytes}
}

// final records that record no has its final outcome.
func (l *ledger) final(no int64, f fin) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.finished[no] = f
	for {
		f, ok := l.finished[l.next]
		if !ok {
			return nil
		}
		delete(l.finished, l.next)
		switch f.status {
		case pulsestream.Accepted:
			l.cp.Accepted++
		case pulsestream.Duplicate:
			l.cp.Duplicate++
		case pulsestream.Rejected:
			l.cp.Rejected++
		}
		if f.rej != nil {
			b, _ := json.Marshal(f.rej)
			n, err := l.rejects.Write(append(b, '\n'))
			l.written += int64(n)
			if err != nil {
				return err
			}
		}
		l.cp.Records = l.next
		l.next++
	}
}

// snapshot flushes the rejects file and returns the checkpoint to save.
func (l *ledger) snapshot() (checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rejects.Flush(); err != nil {
		return l.cp, err
	}
	if err := l.rf.Sync(); err != nil {
		return l.cp, err
	}
	l.cp.RejectsBytes = l.written
	return l.cp, nil
}
