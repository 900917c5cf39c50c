//go:build !linux

package main

import "syscall"

// childProcAttr has nothing to set off Linux (and the memory figure, from /proc, fails).
func childProcAttr() *syscall.SysProcAttr { return nil }
