package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"testing"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/reins-dev/reins/reinstest"
)

// TestDocsInBrowser opens the documentation page in a real headless browser and checks that
// Swagger UI renders the OpenAPI document's operations under the page's own
// Content-Security-Policy, and that the page asked no other host for anything.
func TestDocsInBrowser(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium on PATH: in CI the docs page must be checked in a real browser (apt-get install chromium)")
		}
		t.Skip("no chromium on PATH (apt-get install chromium); CI fails without it")
	}
	m := startMain(t, reinstest.Kinds(t)[0])
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	var mu sync.Mutex
	var requested, problems []string
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requested = append(requested, ev.Request.URL)
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				problems = append(problems, fmt.Sprintf("console.%s: %s %s", ev.Type, a.Value, a.Description))
			}
		case *cdplog.EventEntryAdded:
			problems = append(problems, fmt.Sprintf("%s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("%s %+v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception))
		}
	}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(listen))
	defer cancel()
	// A bound, not a threshold: Swagger UI renders in seconds, but a loaded machine parses its
	// 1.7 MB script slowly.
	ctx, cancel = context.WithTimeout(ctx, 5*waitLimit)
	defer cancel()
	// Swagger UI fetches /api/v1/openapi.json and renders its operations.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+m.Addr()+"/api/v1/docs/"),
		chromedp.WaitReady(`#operations-jobs-jobCommand`)); err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the docs page did not render the document: %v; requested %v; console and errors: %v", err, requested, problems)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(`.info .title`))
	if err != nil {
		t.Fatal(err)
	}
	operations, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.opblock').length`))
	if err != nil {
		t.Fatal(err)
	}
	if operations < 15 {
		t.Errorf("the docs page shows %d operations", operations)
	}
	if title == "" {
		t.Errorf("the docs page shows no title")
	}
	mu.Lock()
	defer mu.Unlock()
	sawDocument := false
	for _, raw := range requested {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "data" && u.Host != m.Addr()) {
			t.Errorf("the docs page loaded %s, not from this server", raw)
		}
		sawDocument = sawDocument || u.Path == "/api/v1/openapi.json"
	}
	if !sawDocument {
		t.Errorf("the docs page did not load /api/v1/openapi.json: %v", requested)
	}
	for _, p := range problems {
		t.Errorf("the docs page threw: %s", p)
	}
}
