package main

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/reins-dev/reins/reinstest"
)

// listPage is what GET /api/v1/jobs answers.
type listPage struct {
	Jobs       []map[string]any `json:"jobs"`
	NextCursor *string          `json:"next_cursor"`
}

// TestJobListing pages through the listing over HTTP by next_cursor, filters it, reads the
// summary, and checks that bad filters are refused with a 400 naming the parameter.
func TestJobListing(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) {
		m := startMain(t, kind)
		c := newClient(t, m.Addr())
		var ids []string
		for range 7 {
			ids = append(ids, newUploadJob(t, c))
		}
		slices.Reverse(ids) // newest first

		var listed []string
		next := ""
		for page := 0; ; page++ {
			q := url.Values{"limit": {"3"}}
			if next != "" {
				q.Set("cursor", next)
			}
			r := c.get("/api/v1/jobs/?" + q.Encode())
			expectOK(t, r)
			p := decode[listPage](t, r)
			for _, j := range p.Jobs {
				listed = append(listed, j["job_id"].(string))
				if _, ok := j["errors"]; ok {
					t.Errorf("a listed job carries its row errors: %v", j)
				}
				if _, ok := j["progress"].(map[string]any); !ok {
					t.Errorf("a listed job has no progress: %v", j)
				}
			}
			if p.NextCursor == nil {
				break
			}
			if page > 5 {
				t.Fatalf("the listing of 7 jobs by 3 goes on past page %d", page)
			}
			next = *p.NextCursor
		}
		if !slices.Equal(listed, ids) {
			t.Errorf("paged listing: %v, want %v", listed, ids)
		}

		count := func(query string) int {
			r := c.get("/api/v1/jobs?" + query)
			expectOK(t, r)
			return len(decode[listPage](t, r).Jobs)
		}
		for query, want := range map[string]int{
			"type=import": 7, "type=export": 0, "status=CREATED": 7, "status=COMPLETED": 0,
			"status=COMPLETED&status=CREATED": 7, "status=paused,created": 7, "created_gte=2000-01-01": 7,
			"created_lte=2000-01-01": 0, "created_gte=2000-01-01T00:00:00Z&created_lte=2999-01-01T00:00:00%2B02:00": 7,
		} {
			if got := count(query); got != want {
				t.Errorf("GET /api/v1/jobs?%s: %d jobs, want %d", query, got, want)
			}
		}

		for _, path := range slashes("/api/v1/jobs/summary") {
			r := c.get(path)
			expectOK(t, r)
			s := decode[struct {
				Counts map[string]int64 `json:"counts"`
				Total  int64            `json:"total"`
			}](t, r)
			if s.Total != 7 || s.Counts["CREATED"] != 7 || len(s.Counts) != 10 {
				t.Errorf("%s: want 7 CREATED of 7 and every status named", r)
			}
		}

		junk := base64.RawURLEncoding.EncodeToString([]byte("12.not-a-uuid"))
		for query, param := range map[string]string{
			"status=BOGUS": "status", "status=CREATED&status=": "", "type=bogus": "type",
			"created_gte=2024-13-01": "created_gte", "created_lte=yesterday": "created_lte",
			"created_gte=2024-02-01&created_lte=2024-01-01": "created_gte", "cursor=%25%25": "cursor",
			"cursor=" + junk: "cursor", "limit=0": "limit", "limit=1001": "limit", "stauts=CREATED": "stauts",
		} {
			r := c.get("/api/v1/jobs?" + query)
			if param == "" {
				expectOK(t, r) // an empty value is no filter
				continue
			}
			expectError(t, r, http.StatusBadRequest, param)
		}
	})
}
