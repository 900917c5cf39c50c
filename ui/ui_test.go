package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

// TestIndex checks the page's headers and that every file it links to is served.
func TestIndex(t *testing.T) {
	t.Parallel()
	res := get(t, Index(), "/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q does not keep scripts to the page's origin", csp)
	}
	links := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(links) < 3 {
		t.Fatalf("the page links %d files under /ui/, want its script, style sheet and icon", len(links))
	}
	for _, l := range links {
		if res := get(t, Assets(), l[1]); res.StatusCode != http.StatusOK {
			t.Errorf("the page links %s, which answers %d", l[1], res.StatusCode)
		}
	}
	// The modules' imports resolve to served files too.
	imports := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)
	for name, a := range assets {
		for _, m := range imports.FindAllSubmatch(a.body, -1) {
			if res := get(t, Assets(), "/ui/"+string(m[1])); res.StatusCode != http.StatusOK {
				t.Errorf("%s imports %s, which answers %d", name, m[1], res.StatusCode)
			}
		}
	}
}

// TestAssets checks validators (a browser revalidates and gets a 304) and the 404s.
func TestAssets(t *testing.T) {
	t.Parallel()
	res := get(t, Assets(), "/ui/app.js")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("GET /ui/app.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if res := get(t, Assets(), "/ui/app.js", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", res.StatusCode)
	}
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/index.html", "/ui/../ui.go"} {
		if res := get(t, Assets(), path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

// TestOffline checks that no embedded file loads anything from another origin.
func TestOffline(t *testing.T) {
	t.Parallel()
	remote := regexp.MustCompile(`(?i)(src|href|url)\s*[=(]\s*["']?(https?:)?//`)
	for name, a := range assets {
		if m := remote.Find(a.body); m != nil {
			t.Errorf("%s loads from the network: %s", name, m)
		}
	}
}
