package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU (user + system) a process has used so far, from /proc/<pid>/stat.
func cpuTime(pid string) (time.Duration, string, error) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, "", err
	}
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return 0, "", fmt.Errorf("malformed /proc/%s/stat", pid)
	}
	comm := s[open+1 : closing]
	// After "(comm) ": state is field 3; utime and stime are fields 14 and 15.
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 13 {
		return 0, "", fmt.Errorf("malformed /proc/%s/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", fmt.Errorf("malformed /proc/%s/stat", pid)
	}
	return time.Duration(utime+stime) * clockTick, comm, nil
}

// cpuSample is the CPU used so far by the server and by every Postgres process on the
// machine (a backend that exits between two samples takes its share with it).
type cpuSample struct{ reins, postgres time.Duration }

func (b *bench) cpu() cpuSample {
	var s cpuSample
	if b.srv != nil {
		s.reins, _, _ = cpuTime(strconv.Itoa(b.srv.pid()))
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		if d, comm, err := cpuTime(filepath.Base(dir)); err == nil && strings.HasPrefix(comm, "postgres") {
			s.postgres += d
		}
	}
	return s
}

func (s cpuSample) sub(t cpuSample) cpuSample {
	return cpuSample{reins: s.reins - t.reins, postgres: s.postgres - t.postgres}
}

// cpuLog collects the CPU of runs of one kind, to report medians.
type cpuLog struct{ reins, postgres []time.Duration }

func (l *cpuLog) add(s cpuSample) {
	l.reins, l.postgres = append(l.reins, s.reins), append(l.postgres, s.postgres)
}

func (l *cpuLog) String() string {
	return fmt.Sprintf("reins serve %.2f s, Postgres %.2f s", median(l.reins).Seconds(), median(l.postgres).Seconds())
}

// loadAvg is the machine's 1-minute load average, from /proc/loadavg.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return f[0] + " " + f[1] + " " + f[2]
}
