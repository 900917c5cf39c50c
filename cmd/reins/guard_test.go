package main

import (
	"testing"

	"github.com/reins-dev/reins/reinstest"
)

// TestExportConfirmOverFlag checks the server's guard: with --export-confirm-over, an export
// estimated above it waits for CONFIRM, one below it runs, and an export's own confirm_over
// takes precedence over the server's.
func TestExportConfirmOverFlag(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMainWith(t, kind, func(c *Config) { c.ExportConfirmOver = 50 })
		seedDemo(t, m, 1000)
		c := newClient(t, m.Addr())
		wide := c.export("2015-01-01", "2024-12-31", 0)
		if s := c.status(wide); s.JobStatus != "AWAITING_CONFIRMATION" {
			t.Errorf("an export of about 1000 rows under --export-confirm-over 50 is %s, want AWAITING_CONFIRMATION", s.JobStatus)
		}
		if s := c.command(wide, "CONFIRM"); s.JobStatus == "AWAITING_CONFIRMATION" {
			t.Errorf("CONFIRM answered %s", s.JobStatus)
		}
		c.waitStatus(wide, "COMPLETED")
		r := c.get("/api/v1/export/?date_gte=2015-01-01&date_lte=2024-12-31&confirm_over=1000000")
		expectOK(t, r)
		own := decode[jobStatus](t, r)
		if own.JobStatus == "AWAITING_CONFIRMATION" {
			t.Errorf("an export with its own confirm_over above its estimate was held by the server's")
		}
		c.waitStatus(own.JobID, "COMPLETED")
	})
}
