package pulsectl

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// probeCommand GETs URLs and fails unless every one answers 200: the chart's
// `helm test` runs it against each service's /readyz (the image has no curl
// and no shell).
func probeCommand(e env) *ffcli.Command {
	fs := flag.NewFlagSet("pulsectl probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "time each request gets")
	insecure := fs.Bool("insecure-skip-verify", false, "accept any TLS certificate, as the kubelet's HTTPS probes do")
	return &ffcli.Command{
		Name: "probe", ShortUsage: "pulsectl probe [--timeout 5s] [--insecure-skip-verify] URL...",
		ShortHelp: "GET each URL; fail unless every one answers 200", FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("give at least one URL")
			}
			client := &http.Client{Timeout: *timeout, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: *insecure}, // only when asked for
			}}
			var failed []string
			for _, u := range args {
				status, err := probe(ctx, client, u)
				if err != nil {
					status, failed = err.Error(), append(failed, u)
				}
				fmt.Fprintf(e.stdout, "%s %s\n", u, status)
			}
			if len(failed) > 0 {
				return fmt.Errorf("not answering 200: %s", strings.Join(failed, " "))
			}
			return nil
		},
	}
}

func probe(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", usagef("%s: %v", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	return resp.Status, nil
}
