package modgraph

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

const prefix = "github.com/pulsestream/pulsestream/"

func TestModuleGraphHasNoCycle(t *testing.T) {
	root := testenv.Root(t)
	graph := map[string][]string{}
	for _, dir := range workspaceModules(t, root) {
		for from, tos := range requirements(t, filepath.Join(root, dir)) {
			for _, to := range tos {
				if !slices.Contains(graph[from], to) {
					graph[from] = append(graph[from], to)
				}
			}
		}
	}
	if len(graph["platform"]) == 0 {
		t.Fatalf("no requirement of platform found (it needs schemas): reading `go mod graph` is broken; graph %v", graph)
	}
	if c := cycle(graph); c != nil {
		t.Fatalf("module cycle: %s\n(move the code that needs the later module out of the earlier one)", strings.Join(c, " → "))
	}
}

func TestCycleFindsALoopAndOnlyALoop(t *testing.T) {
	loop := map[string][]string{"platform": {"schemas", "testkit"}, "testkit": {"migrations"}, "migrations": {"platform"}}
	if c := cycle(loop); len(c) != 4 || c[0] != c[3] {
		t.Fatalf("cycle(%v) = %v, want a closed path of three modules", loop, c)
	}
	diamond := map[string][]string{"tenancy": {"platform", "migrations"}, "migrations": {"platform"}, "platform": {"schemas"}}
	if c := cycle(diamond); c != nil {
		t.Fatalf("cycle(%v) = %v, want none", diamond, c)
	}
}

// workspaceModules lists the module directories of go.work, relative to root.
func workspaceModules(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("go", "work", "edit", "-json")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, u := range work.Use {
		dirs = append(dirs, u.DiskPath)
	}
	if len(dirs) < 2 {
		t.Fatalf("go.work uses %v: expected the repository's modules", dirs)
	}
	return dirs
}

// requirements is the part of `go mod graph` of the module in dir between
// this repository's modules, by path below prefix ("platform" → "schemas").
func requirements(t *testing.T, dir string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "mod", "graph")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod graph in %s: %v", dir, err)
	}
	edges := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		from, to, ok := strings.Cut(strings.TrimSpace(line), " ")
		from, to = ours(from), ours(to)
		if ok && from != "" && to != "" {
			edges[from] = append(edges[from], to)
		}
	}
	return edges
}

// ours is the path below prefix of a `go mod graph` node ("path@version"),
// or "" for a module of another repository.
func ours(node string) string {
	path, _, _ := strings.Cut(node, "@")
	if rest, ok := strings.CutPrefix(path, prefix); ok {
		return rest
	}
	return ""
}

// cycle returns a closed path of graph (first node == last), or nil when it
// has none. Nodes are visited in sorted order, so the answer is stable.
func cycle(graph map[string][]string) []string {
	const visiting, done = 1, 2
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = visiting
		stack = append(stack, n)
		for _, m := range slices.Sorted(slices.Values(graph[n])) {
			switch state[m] {
			case visiting:
				return append(slices.Clone(stack[slices.Index(stack, m):]), m)
			case 0:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(graph)) {
		if state[n] == 0 {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}
