package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// importLines is the size of the import test: 100,000 lines in `make test`,
// PULSESTREAM_IMPORT_LINES when set (1,000,000 in `make bench-client`).
func importLines(t *testing.T) int {
	if v := os.Getenv("PULSESTREAM_IMPORT_LINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("PULSESTREAM_IMPORT_LINES=%q: want a count of at least 2", v)
		}
		return n
	}
	return 100000
}

// importState is the part of pulseimport's state file the test reads.
type importState struct {
	Records                       int64
	Accepted, Duplicate, Rejected int64
}

func readImportState(path string) (importState, error) {
	var st importState
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// pulseimport killed (SIGKILL) once half of an NDJSON file has final
// outcomes, then run again with the same command: it resumes from its
// checkpoint, what the first run had sent past it (if anything) comes back
// as duplicates, and both read models end with exactly one row per line. Half of the lines
// have no id: they get ids derived from the file name, line number and
// content, the same in both runs.
func importKilledHalfWayAndResumed(t *testing.T, s *stack) {
	n := importLines(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "history.ndjson")
	want := writeHistory(t, input, n)
	bin := testenv.Build(t, "clients/go/cmd/pulseimport")
	args := []string{"-endpoint", s.gatewayURL, "-api-key", s.keyA, "-progress", "log", input}
	state := input + ".pulseimport.json"

	// The first run sends small requests one at a time, so the second half of
	// the file takes seconds whatever the machine (each request waits for
	// Kafka's acks): the kill lands with the file half done, not after it.
	firstArgs := append([]string{"-batch", fmt.Sprint(max(20, n/5000)), "-in-flight", "1"}, args...)
	first := exec.Command(bin, firstArgs...)
	first.Env = []string{"PATH=" + os.Getenv("PATH")}
	log1, _ := os.Create(filepath.Join(dir, "first.log"))
	first.Stdout, first.Stderr = log1, log1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Minute, "half of the file with final outcomes", func() string {
		st, err := readImportState(state)
		if err != nil || st.Records < int64(n/2) {
			return fmt.Sprintf("checkpoint %+v (%v)", st, err)
		}
		return ""
	})
	_ = first.Process.Kill()
	_ = first.Wait()
	killedAt, _ := readImportState(state)
	if killedAt.Records >= int64(n) {
		t.Fatalf("the import finished before the kill: %+v", killedAt)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	second := exec.CommandContext(ctx, bin, args...)
	second.Env = first.Env
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	final, err := readImportState(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed at %+v; after the second run %+v", killedAt, final)
	if final.Records != int64(n) || final.Accepted+final.Duplicate != int64(n) || final.Rejected != 0 {
		t.Fatalf("state after the second run: %+v, want %d records all accepted or duplicate", final, n)
	}
	// How many lines the first run had sent past its checkpoint when it was
	// killed depends on timing (none, if it was between two requests), so
	// the duplicates are not counted here; the read models below prove that
	// whatever was sent twice is stored once.
	if st, err := os.Stat(input + ".rejects.ndjson"); err != nil || st.Size() != 0 {
		t.Errorf("rejects file: %v %v, want an empty file", st, err)
	}
	s.expectReadModels(s.tenantA, want)
}

// writeHistory writes n NDJSON events, the odd lines without an id, and
// returns the ids the read models must hold (pulseimport's for the odd ones).
func writeHistory(t *testing.T, path string, n int) map[string]bool {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	want := make(map[string]bool, n)
	for i := 1; i <= n; i++ {
		if i%2 == 1 {
			line := fmt.Sprintf(`{"type":"history.imported","source":"backfill","time":"2026-01-01T00:00:00Z","data":{"line":%d}}`, i)
			fmt.Fprintln(w, line)
			want[stableImportID(filepath.Base(path), i, line)] = true
			continue
		}
		id := fmt.Sprintf("hist-%07d", i)
		fmt.Fprintf(w, `{"id":%q,"type":"history.imported","source":"backfill","time":"2026-01-01T00:00:00Z","data":{"line":%d}}`+"\n", id, i)
		want[id] = true
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// stableImportID is the id pulseimport documents for an event without one
// (clients/go/README.md): namespace (the file's base name), line number and
// the first 8 bytes of the SHA-256 of the line, in hex.
func stableImportID(namespace string, line int, raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return fmt.Sprintf("%s:%d:%s", namespace, line, hex.EncodeToString(sum[:8]))
}
