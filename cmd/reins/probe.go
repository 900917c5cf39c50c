package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probe GETs url and succeeds on 200: a health check for images without a shell or curl
// (`reins probe http://127.0.0.1:8000/readyz` in a compose healthcheck).
func probe(ctx context.Context, url string, timeout time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s", body)
	return nil
}
