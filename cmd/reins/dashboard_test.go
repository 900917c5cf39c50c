package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/reins-dev/reins/reinstest"
)

// The dashboard test's data: dashCustomers demo customers; the export to pause spans about
// 300 of them at 40 rows a second and the one to revoke about 600 at 20, so each runs for
// several seconds whatever the machine's speed (a throttle bounds a job's speed from above),
// while the test pauses or revokes it as soon as the page shows it running.
const (
	dashCustomers        = 3000
	dashPauseGTE         = "2016-01-01"
	dashPauseLTE         = "2016-12-31"
	dashPauseRate        = "40"
	dashRevokeGTE        = "2018-01-01"
	dashRevokeLTE        = "2019-12-31"
	dashRevokeRate       = "20"
	dashWorker           = "dash-worker"
	screenshotsVariable  = "REINS_SCREENSHOTS"
	dashboardChromeNeeds = "the dashboard's browser test needs Chromium (apt-get install chromium; .ci/run installs it)"
)

// TestDashboard drives the dashboard in headless Chromium against the real binary, on every
// backend: upload a CSV and see the import COMPLETED with its refused row listed; start a
// throttled export, pause it and see PAUSED; revoke another running export and see
// REVOKED; resume the first and see COMPLETED; download its file from the job page and
// check its rows; lose the server and see the page say so, then recover. With
// REINS_SCREENSHOTS=dir it saves the screenshots the README shows (from the SQLite run).
func TestDashboard(t *testing.T) {
	t.Parallel()
	chrome := chromiumPath(t)
	forEachKind(t, func(t *testing.T, kind reinstest.Kind) { testDashboard(t, kind, chrome) })
}

// chromiumPath finds the browser; without one the test fails in CI and is skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal(dashboardChromeNeeds)
	}
	t.Skip(dashboardChromeNeeds)
	return ""
}

// dashServer is a `reins serve` the test can kill and start again on the same address and
// database.
type dashServer struct {
	t    *testing.T
	env  []string
	args []string
	addr string
	p    *proc
}

func startDashServer(t *testing.T, kind reinstest.Kind) *dashServer {
	t.Helper()
	db := []string{"--data-dir", t.TempDir()}
	if u := kind.URL(t); u != "" {
		db = append(db, "--database-url", u)
	}
	s := &dashServer{t: t, env: childEnv(), addr: freeAddr(t)}
	mustRun(t, s.env, append([]string{"seed", "--customers", fmt.Sprint(dashCustomers)}, db...)...)
	s.args = append([]string{"serve", "--addr", s.addr, "--workers", "2", "--batch-size", "50",
		"--grace", "5s", "--command-wait", "30s", "--name", dashWorker}, db...)
	s.start()
	return s
}

func (s *dashServer) start() {
	s.t.Helper()
	s.p = startReins(s.t, s.env, s.args...)
	waitHealthy(s.t, s.p, s.addr)
}

// kill ends the server at once, as a crash or a network cut would for the browser.
func (s *dashServer) kill() {
	s.t.Helper()
	if err := s.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	s.p.wait(s.t, waitLimit)
}

// page is one browser tab on the dashboard.
type page struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	js  []string // uncaught exceptions in the page
}

func openBrowser(t *testing.T, chrome string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p := &page{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			p.mu.Lock()
			p.js = append(p.js, msg)
			p.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, msg := range p.js {
			t.Errorf("uncaught exception in the dashboard: %s", msg)
		}
	})
	return p
}

// do runs the steps, failing the test with what the page shows if they do not all succeed
// within waitLimit.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, p.text())
	}
	p.t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
}

// text is the page's visible text, for failure messages.
func (p *page) text() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// attr returns an attribute of the first element sel matches.
func (p *page) attr(sel, name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !v.Exists {
		p.t.Fatalf("%s[%s]: %v\nthe page shows:\n%s", sel, name, err, p.text())
	}
	return v.Value
}

// textOf returns the text of the first element sel matches.
func (p *page) textOf(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: %v", sel, err)
	}
	return v
}

// screenshot saves the viewport as dir/name.png when REINS_SCREENSHOTS names a directory.
func (p *page) screenshot(kind reinstest.Kind, name string) {
	p.t.Helper()
	dir := os.Getenv(screenshotsVariable)
	if dir == "" || kind.Name != "sqlite" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// rowStatus waits until the jobs table shows the job with this status.
func rowStatus(id, status string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`#jobs tr[data-job-id="` + id + `"] .badge[data-status="` + status + `"]`))
}

// rowCommand clicks a command button in the job's row of the jobs table.
func rowCommand(id, command string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(`#jobs tr[data-job-id="` + id + `"] button[data-command="` + command + `"]`))
}

// setField sets a form field's value, as typing would (empty included).
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = %q`, sel, value))
}

// startExport fills in and sends the export form, and returns the new job's id.
func (p *page) startExport(gte, lte, rate, confirmOver string) string {
	p.t.Helper()
	p.do("start an export "+gte+" to "+lte,
		chromedp.WaitVisible(chromedp.CSS(`#export-form`)),
		setField(`#export-form input[name=date_gte]`, gte),
		setField(`#export-form input[name=date_lte]`, lte),
		setField(`#export-form input[name=max_rows_per_s]`, rate),
		setField(`#export-form input[name=confirm_over]`, confirmOver),
		chromedp.Click(chromedp.CSS(`#export-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#export-result[data-job-id] a`)))
	return p.attr(`#export-result`, "data-job-id")
}

func testDashboard(t *testing.T, kind reinstest.Kind, chrome string) {
	srv := startDashServer(t, kind)
	api := newClient(t, srv.addr)
	p := openBrowser(t, chrome)
	p.do("open the dashboard",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			// Still bars in the screenshots: the page drops its transitions for reduced motion.
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}})
			return err
		}),
		chromedp.Navigate("http://"+srv.addr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))

	// Upload: 30 customers, one of them refused (line 5, age), skipped under on_error=skip.
	var csv strings.Builder
	csv.WriteString("first_name,last_name,address,email,age,company\n")
	for i := 1; i <= 30; i++ {
		age := 20 + i
		if i == 4 {
			age = 200 // line 5
		}
		fmt.Fprintf(&csv, "Dash%d,Board,\"%d Main St, Town\",dash%d@example.com,%d,\"Acme, Inc\"\n", i, i, i, age)
	}
	file := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p.do("upload a CSV",
		chromedp.Click(chromedp.CSS(`#upload-panel > summary`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-form input[type=file]`), []string{file}),
		chromedp.SetValue(chromedp.CSS(`#upload-form select[name=on_error]`), "skip"),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#upload-import-text .badge[data-status="COMPLETED"]`)))
	imp := p.attr(`#upload-status`, "data-job-id")
	if got := p.textOf(`#upload-transfer-text`); !strings.HasPrefix(got, "complete") {
		t.Errorf("upload transfer shows %q, want complete", got)
	}
	if s := api.status(imp); s.JobStatus != "COMPLETED" || s.Progress.Done != 29 {
		t.Errorf("import %s is %s with %d rows, want COMPLETED with 29", imp, s.JobStatus, s.Progress.Done)
	}
	p.do("see the counts", chromedp.WaitVisible(chromedp.CSS(`#summary .badge[data-status="COMPLETED"]`)))
	if os.Getenv(screenshotsVariable) != "" {
		p.do("fit the screenshot", chromedp.EmulateViewport(1280, 640))
		p.screenshot(kind, "dashboard-upload")
		p.do("restore the viewport", chromedp.EmulateViewport(1280, 900))
	}

	// The import's page lists the refused row; the browser's back button returns.
	p.do("open the import's page",
		chromedp.Click(chromedp.CSS(`#upload-job a`)),
		chromedp.WaitVisible(chromedp.CSS(`#view-job #job-status[data-status="COMPLETED"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#job-skipped tbody tr`)))
	if got := p.textOf(`#job-skipped tbody tr`); !strings.Contains(got, "5") || !strings.Contains(got, "age") || !strings.Contains(got, "200") {
		t.Errorf("skipped row shows %q, want line 5, column age, and the value 200", got)
	}
	p.do("go back to the jobs",
		chromedp.NavigateBack(),
		chromedp.WaitVisible(chromedp.CSS(`#view-jobs #jobs tr[data-job-id="`+imp+`"]`)))

	// Pause a running export.
	p.do("open the export form", chromedp.Click(chromedp.CSS(`#export-panel > summary`)), chromedp.WaitVisible(chromedp.CSS(`#export-form`)))
	paused := p.startExport(dashPauseGTE, dashPauseLTE, dashPauseRate, "")
	p.do("see the export running", rowStatus(paused, "STARTED"))
	p.do("pause it", rowCommand(paused, "PAUSE"), rowStatus(paused, "PAUSED"))
	if s := api.status(paused); s.JobStatus != "PAUSED" {
		t.Fatalf("the page shows PAUSED; the API says %s", s.JobStatus)
	}
	p.do("filter to the PAUSED jobs",
		chromedp.Evaluate[chromedp.Void](`(s => { s.value = 'PAUSED'; s.dispatchEvent(new Event('change', {bubbles: true})) })(document.querySelector('#filters select[name=status]'))`),
		chromedp.WaitNotPresent(chromedp.CSS(`#jobs tr[data-job-id="`+imp+`"]`)),
		rowStatus(paused, "PAUSED"))
	p.do("go back to every job", chromedp.NavigateBack(),
		chromedp.WaitVisible(chromedp.CSS(`#jobs tr[data-job-id="`+imp+`"]`)),
		chromedp.WaitReady(chromedp.CSS(`#filters select[name=status]`)))
	if got, _ := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(`#filters select[name=status]`))); got != "" {
		t.Errorf("after going back the status filter is %q, want any", got)
	}

	// Another export runs, with its worker shown; revoke it.
	revoked := p.startExport(dashRevokeGTE, dashRevokeLTE, dashRevokeRate, "")
	p.do("see the second export running on its worker",
		rowStatus(revoked, "STARTED"),
		chromedp.WaitVisible(chromedp.Search(`//tr[@data-job-id="`+revoked+`"]/td[contains(@class,"worker")][normalize-space()="`+dashWorker+`"]`)),
		// The counts by status follow.
		chromedp.WaitVisible(chromedp.CSS(`#summary .badge[data-status="PAUSED"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary .badge[data-status="STARTED"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary .badge[data-status="COMPLETED"]`)))
	if os.Getenv(screenshotsVariable) != "" {
		p.do("see the second export's rate",
			chromedp.WaitVisible(chromedp.Search(`//tr[@data-job-id="`+revoked+`"]/td[contains(@class,"rate")][normalize-space()!=""]`)))
		p.do("fold the forms away", chromedp.Click(chromedp.CSS(`#export-panel > summary`)), chromedp.Click(chromedp.CSS(`#upload-panel > summary`)),
			chromedp.WaitReady(chromedp.CSS(`#export-panel:not([open])`)), chromedp.WaitReady(chromedp.CSS(`#upload-panel:not([open])`)))
		p.do("fit the screenshot", chromedp.EmulateViewport(1280, 520))
		p.screenshot(kind, "dashboard-jobs")
		p.do("restore the viewport", chromedp.EmulateViewport(1280, 900))
	}
	p.do("revoke it, confirming",
		rowCommand(revoked, "REVOKE"),
		chromedp.WaitVisible(chromedp.CSS(`#revoke-dialog[open]`)),
		chromedp.Click(chromedp.CSS(`#revoke-confirm`)),
		rowStatus(revoked, "REVOKED"))
	if s := api.status(revoked); s.JobStatus != "REVOKED" {
		t.Fatalf("the page shows REVOKED; the API says %s", s.JobStatus)
	}

	// An export estimated above its confirm_over waits for the Confirm button; its estimate
	// shows.
	held := p.startExport("2020-01-01", "2020-03-31", "", "10")
	p.do("see the export held for confirmation", rowStatus(held, "AWAITING_CONFIRMATION"))
	if got := p.textOf(`#export-result`); !strings.Contains(got, "about") || !strings.Contains(got, "confirmation") {
		t.Errorf("the held export's answer shows %q, want its estimate and that it waits for confirmation", got)
	}
	p.do("confirm it", rowCommand(held, "CONFIRM"), rowStatus(held, "COMPLETED"))

	// Resume the paused export to the end, then download its file from its page.
	p.do("resume the export until it completes", rowCommand(paused, "RESUME"), rowStatus(paused, "COMPLETED"))
	p.do("open the export's page",
		chromedp.Click(chromedp.CSS(`#jobs tr[data-job-id="`+paused+`"] td.type a`)),
		chromedp.WaitVisible(chromedp.CSS(`#view-job #job-status[data-status="COMPLETED"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#job-download-link`)),
		chromedp.WaitVisible(chromedp.Search(`//table[@id="job-history"]//td[.//span[@data-status="PAUSED"]]`)))
	history := p.textOf(`#job-history tbody`)
	for _, want := range []string{"PAUSE", "RESUME", "api", "COMPLETED"} {
		if !strings.Contains(history, want) {
			t.Errorf("the export's history does not show %s: %q", want, history)
		}
	}
	p.screenshot(kind, "dashboard-job")
	got := p.download(`#job-download-link`)
	want, rows := expectedCSV(t, dashCustomers, dashPauseGTE, dashPauseLTE)
	if got != want {
		t.Errorf("downloaded export (%d rows expected): %s", rows, diffCSV(got, want))
	}

	// The server goes away: the page says so, and recovers when it is back.
	p.do("back to the jobs", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS(`#view-jobs`)))
	srv.kill()
	p.do("see the connection lost", chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="lost"]`)))
	if got := p.textOf(`#conn`); !strings.Contains(got, "reconnecting") {
		t.Errorf("lost connection shows %q", got)
	}
	srv.start()
	p.do("see it recover",
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)),
		rowStatus(paused, "COMPLETED"), rowStatus(revoked, "REVOKED"))

	if os.Getenv(screenshotsVariable) != "" && kind.Name == "sqlite" {
		p.do("narrow screen", chromedp.EmulateViewport(390, 844), chromedp.WaitVisible(chromedp.CSS(`#jobs`)),
			chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		p.screenshot(kind, "dashboard-narrow")
	}
	noPanic(t, srv.p)
}

// download clicks the link and returns the file the browser saved.
func (p *page) download(sel string) string {
	p.t.Helper()
	dir := p.t.TempDir()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	p.do("download "+sel,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("download %s: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				p.t.Fatal(err)
			}
			return string(b)
		case browser.DownloadProgressStateCanceled:
			p.t.Fatalf("download %s was cancelled", sel)
		}
	}
	p.t.Fatalf("download %s: no download finished within %s", sel, waitLimit)
	return ""
}

func ptr[T any](v T) *T { return &v }
