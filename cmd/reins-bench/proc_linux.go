package main

import "syscall"

// childProcAttr kills the server if this process dies without stopping it (SIGKILL, a
// crash), so no server outlives a benchmark.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
