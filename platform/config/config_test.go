package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

type sample struct{ Port int }

func (s *sample) RegisterFlags(fs *flag.FlagSet) { fs.IntVar(&s.Port, "sample-port", 80, "a port") }
func (s *sample) Validate() error {
	if s.Port <= 0 {
		return fmt.Errorf("sample-port: must be positive, got %d", s.Port)
	}
	return nil
}

func TestEnvironmentVariableSetsTheFlagOfTheSameName(t *testing.T) {
	t.Setenv("PULSESTREAM_SAMPLE_PORT", "9000")
	var s sample
	if _, err := Parse("x", nil, &s); err != nil {
		t.Fatal(err)
	}
	if s.Port != 9000 {
		t.Fatalf("port = %d, want 9000 from PULSESTREAM_SAMPLE_PORT", s.Port)
	}
}

func TestFlagWinsOverEnvironment(t *testing.T) {
	t.Setenv("PULSESTREAM_SAMPLE_PORT", "9000")
	var s sample
	if _, err := Parse("x", []string{"-sample-port", "7"}, &s); err != nil {
		t.Fatal(err)
	}
	if s.Port != 7 {
		t.Fatalf("port = %d, want 7 from the flag", s.Port)
	}
}

func TestInvalidSettingIsRefusedNamingTheSetting(t *testing.T) {
	t.Setenv("PULSESTREAM_SAMPLE_PORT", "-1")
	var s sample
	_, err := Parse("x", nil, &s)
	if err == nil || !strings.Contains(err.Error(), "sample-port") {
		t.Fatalf("err = %v, want one naming sample-port", err)
	}
	if code := Exit("x", err); code == 0 {
		t.Fatal("an invalid setting must give a non-zero exit code")
	}
}

func TestMalformedValueIsRefusedNamingTheSetting(t *testing.T) {
	t.Setenv("PULSESTREAM_SAMPLE_PORT", "eighty")
	var s sample
	_, err := Parse("x", nil, &s)
	if err == nil || !strings.Contains(err.Error(), "sample-port") && !strings.Contains(err.Error(), "SAMPLE_PORT") {
		t.Fatalf("err = %v, want one naming the setting", err)
	}
}

func TestPrintSettingsListsEveryEnvironmentVariable(t *testing.T) {
	var s sample
	fs, err := Parse("x", []string{"-print-settings"}, &s)
	if !errors.Is(err, ErrPrintedSettings) || Exit("x", err) != 0 {
		t.Fatalf("err = %v, want ErrPrintedSettings and exit 0", err)
	}
	got := strings.Join(Settings(fs), ",")
	if !strings.Contains(got, "PULSESTREAM_SAMPLE_PORT") {
		t.Fatalf("settings %s lack PULSESTREAM_SAMPLE_PORT", got)
	}
}

func TestVersionFlagPrintsTheLinkedVersionAndExitsZero(t *testing.T) {
	old := Version
	Version = "1.2.3"
	t.Cleanup(func() { Version = old })
	var s sample
	_, err := Parse("x", []string{"-version"}, &s)
	if !errors.Is(err, ErrPrintedVersion) || Exit("x", err) != 0 {
		t.Fatalf("err = %v, want ErrPrintedVersion and exit 0", err)
	}
	if got := VersionLine("gateway"); !strings.HasPrefix(got, "gateway 1.2.3 (go") {
		t.Fatalf("VersionLine = %q, want it to start with \"gateway 1.2.3 (go\"", got)
	}
}
