package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDockerfileCopiesEveryWorkspaceModule: no Docker engine runs here, so
// the Dockerfile's build stage is not built by a test; its `go mod download`
// needs every module of go.work, so a module added to the workspace without a
// COPY line here would break `docker build`.
func TestDockerfileCopiesEveryWorkspaceModule(t *testing.T) {
	out, err := exec.Command("go", "work", "edit", "-json", "../go.work").Output()
	if err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil || len(work.Use) < 5 {
		t.Fatalf("go.work: %v, %d modules", err, len(work.Use))
	}
	dockerfile, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range work.Use {
		dir := strings.TrimPrefix(u.DiskPath, "./")
		if line := "COPY " + dir + "/go.mod " + dir + "/go.sum " + dir + "/"; !strings.Contains(string(dockerfile), line) {
			t.Errorf("deploy/docker/Dockerfile lacks %q (module %s of go.work)", line, dir)
		}
	}
}
