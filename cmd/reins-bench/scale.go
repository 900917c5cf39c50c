package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// scalePoint is what the scale figures know of one size.
type scalePoint struct {
	exportNs, exportCopyNs, importNs, importCopyNs float64 // per row
	exportPeak, importPeak                         int64   // the server's peak RSS, bytes
	importBytes                                    int64   // the import file's size
	haveExport, haveImport                         bool
}

func (b *bench) point(n int64) *scalePoint {
	p := b.scales[n]
	if p == nil {
		p = &scalePoint{}
		b.scales[n] = p
	}
	return p
}

// noteScale records one export or import of n rows for the scale figures: its time (Reins
// and the baseline), the server's peak RSS during it and, for imports, the file's size.
func (b *bench) noteScale(kind string, n int64, reins, baseline time.Duration, peak, size int64) {
	p := b.point(n)
	reinsNs, copyNs := float64(reins)/float64(n), float64(baseline)/float64(n)
	if kind == "export" {
		p.exportNs, p.exportCopyNs, p.exportPeak, p.haveExport = reinsNs, copyNs, peak, true
	} else {
		p.importNs, p.importCopyNs, p.importPeak, p.importBytes, p.haveImport = reinsNs, copyNs, peak, size, true
	}
}

// benchScales runs the figures that need other table sizes: the 20% range export at
// --big-rows, and an export and an import at each of --scales, for the cost per row and the
// peak RSS at each size. The size the table already holds goes first, then the others in
// ascending order, each reseeded once. A size measured at --rows (the export and import
// figures) is not measured again.
func (b *bench) benchScales(ctx context.Context) error {
	sizes := slices.Clone(b.opts.scales)
	if b.opts.bigRows > 0 {
		sizes = append(sizes, b.opts.bigRows)
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	if len(b.opts.scales) > 0 {
		// The peaks at each size are the jobs', not what the job-status load left; one
		// untimed export then warms the new server, as the export figure's warm-up does.
		if err := b.restartServer(ctx); err != nil {
			return err
		}
		id, err := b.api.export(ctx, 0)
		if err == nil {
			_, err = b.api.waitCompleted(ctx, id, b.opts.jobTimeout)
		}
		if err != nil {
			return fmt.Errorf("warm-up export on the restarted server: %w", err)
		}
	}
	if i := slices.Index(sizes, b.seeded); i > 0 {
		sizes = append([]int64{b.seeded}, slices.Delete(sizes, i, i+1)...)
	}
	for k, n := range sizes {
		if n == b.opts.bigRows {
			b.logf("== range export at %s rows", count(n))
			if err := b.benchRange(ctx); err != nil {
				return fmt.Errorf("range export: %w", err)
			}
		}
		if !slices.Contains(b.opts.scales, n) {
			continue
		}
		p := b.point(n)
		if !p.haveExport {
			if err := b.reseed(ctx, n); err != nil {
				return err
			}
			b.logf("== export at %s rows", count(n))
			if err := b.scaleExport(ctx, n, b.scaleRuns(n)); err != nil {
				return fmt.Errorf("export at %s rows: %w", count(n), err)
			}
		}
		if !p.haveImport && !b.opts.skipImport {
			if err := b.reseed(ctx, n); err != nil {
				return err
			}
			b.logf("== import at %s rows", count(n))
			c, err := b.importVsCopy(ctx, n, b.scaleRuns(n), fmt.Sprintf("scale-import-%d", n), k < len(sizes)-1)
			if err != nil {
				return fmt.Errorf("import at %s rows: %w", count(n), err)
			}
			b.noteScale("import", n, median(c.reins), median(c.copies), c.peak, c.size)
			b.report.note("import at %s rows: COPY %s, Reins %s (the upload answered after %s); CPU per run (median): COPY: %s; Reins: %s; WAL written per run: COPY %s, Reins %s",
				count(n), durations(c.copies), durations(c.reins), durations(c.uploads), &c.copyCPU, &c.reinsCPU, walList(c.copyWAL), walList(c.reinsWAL))
		}
	}
	if len(b.opts.scales) > 0 {
		b.reportScales()
	}
	return nil
}

// scaleRuns is how many alternating runs of each side a scale figure makes at n rows:
// --repeat below --rows, whose runs are short enough (0.1-0.8 s at 100k) for one hiccup of
// a shared machine to move a single run by half; one above it, whose runs last long enough
// to average such hiccups out (docs/benchmarks.md, step 7).
func (b *bench) scaleRuns(n int64) int {
	if n < b.opts.rows {
		return b.opts.repeat // at least 1 (parseFlags)
	}
	return 1
}

// scaleExport times runs alternating COPY TOs and Reins exports of all n rows (each COPY
// first, which also warms the cache), checks every result's rows, and keeps the medians
// and the highest of the server's peak RSS.
func (b *bench) scaleExport(ctx context.Context, n int64, runs int) error {
	baselineFile := filepath.Join(b.tmp, "copy-export.csv")
	defer os.Remove(baselineFile)
	var copies, reins []time.Duration
	var peak int64
	for i := range runs {
		b.checkpoint(ctx)
		d, wrote, err := b.copyTo(ctx, baselineFile, copyToSQL(fullRange, false))
		if err != nil {
			return err
		}
		if wrote != n {
			return fmt.Errorf("COPY TO wrote %d rows, want %d", wrote, n)
		}
		want, err := readRowset(baselineFile)
		if err != nil {
			return err
		}
		b.checkpoint(ctx)
		b.srv.resetPeak()
		stop := b.profileIf(ctx, i == runs-1, fmt.Sprintf("scale-export-%d", n))
		id, t, err := b.exportOnce(ctx, fullRange, n)
		stop()
		if err != nil {
			return err
		}
		_, p, err := b.srv.memory()
		if err != nil {
			return err
		}
		same, err := b.checkResult(ctx, id, want)
		if err != nil {
			return err
		}
		if !same {
			b.report.check(false)
			b.report.note("scale export at %s rows: the result did NOT hold exactly COPY's rows", count(n))
		}
		copies, reins, peak = append(copies, d), append(reins, t), max(peak, p)
		b.logf("export at %s rows, run %d: COPY %s, Reins %s (%.2fx), peak RSS %s MB", count(n), i+1, secs(d), secs(t), ratio(t, d), mb(p))
	}
	b.noteScale("export", n, median(reins), median(copies), peak, 0)
	return nil
}

// Issue 11's targets for the scale figures. "Flat" memory is the harness's reading of
// "the same at 100k, 1M and 10M rows": the largest peak at most 1.25 times the smallest.
const (
	costFlat   = 1.10
	rssLimit   = 250 << 20
	rssFlat    = 1.25
	costTarget = "flat: max/min ≤ 1.10×"
)

func (b *bench) reportScales() {
	var sizes []int64
	for _, n := range b.opts.scales {
		if p := b.scales[n]; p != nil && (p.haveExport || p.haveImport) {
			sizes = append(sizes, n)
		}
	}
	at := make([]string, len(sizes))
	for i, n := range sizes {
		at[i] = shortCount(n)
	}
	atSizes := strings.Join(at, " / ")
	type series struct {
		name     string
		have     func(*scalePoint) bool
		reins    func(*scalePoint) float64
		baseline func(*scalePoint) float64
	}
	for _, s := range []series{
		{"export", func(p *scalePoint) bool { return p.haveExport }, func(p *scalePoint) float64 { return p.exportNs }, func(p *scalePoint) float64 { return p.exportCopyNs }},
		{"import", func(p *scalePoint) bool { return p.haveImport }, func(p *scalePoint) float64 { return p.importNs }, func(p *scalePoint) float64 { return p.importCopyNs }},
	} {
		var reins, base []float64
		for _, n := range sizes {
			if p := b.scales[n]; s.have(p) {
				reins, base = append(reins, s.reins(p)), append(base, s.baseline(p))
			}
		}
		if len(reins) != len(sizes) {
			continue
		}
		spread := slices.Max(reins) / slices.Min(reins)
		b.report.add(row{
			figure:   fmt.Sprintf("%s cost per row at %s rows (time to COMPLETED ÷ rows; COPY's beside it)", s.name, atSizes),
			reins:    nsList(reins),
			baseline: nsList(base),
			ratio:    fmt.Sprintf("max/min %.2f× (COPY %.2f×)", spread, slices.Max(base)/slices.Min(base)),
			target:   costTarget,
			pass:     passMark(spread <= costFlat),
		})
	}
	for _, kind := range []string{"export", "import"} {
		var peaks []float64
		var biggest int64
		for _, n := range sizes {
			p := b.scales[n]
			switch {
			case kind == "export" && p.haveExport:
				peaks = append(peaks, float64(p.exportPeak))
			case kind == "import" && p.haveImport:
				peaks = append(peaks, float64(p.importPeak))
				biggest = max(biggest, p.importBytes)
			}
		}
		if len(peaks) != len(sizes) {
			continue
		}
		what := "an export"
		if kind == "import" {
			what = fmt.Sprintf("an upload and import (largest file %s MB)", mb(biggest))
		}
		parts := make([]string, len(peaks))
		for i, p := range peaks {
			parts[i] = mb(int64(p))
		}
		spread := slices.Max(peaks) / max(1, slices.Min(peaks))
		b.report.add(row{
			figure:   fmt.Sprintf("peak RSS of `reins serve` during %s at %s rows", what, atSizes),
			reins:    strings.Join(parts, " / ") + " MB",
			baseline: "–",
			ratio:    fmt.Sprintf("max/min %.2f×", spread),
			target:   fmt.Sprintf("≤ 250 MB, flat: max/min ≤ %.2f×", rssFlat),
			pass:     passMark(slices.Max(peaks) <= rssLimit && spread <= rssFlat),
		})
	}
	b.report.note("scales: each size's export and import is the median of %d alternating runs of each side below --rows and one run above it (at --rows, the median run of the export and import figures); the export's COPY runs first and warms the cache; peak RSS is the server's VmHWM over the Reins run, reset before it through /proc/<pid>/clear_refs, in a server started afresh for these figures and warmed by one untimed export (the 1M-row ones come from the export and import figures, early in the run)", b.opts.repeat)
}

func nsList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = count(int64(x + 0.5))
	}
	return strings.Join(parts, " / ") + " ns"
}

// shortCount writes 100000 as 100k and 10000000 as 10M.
func shortCount(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return count(n)
}
