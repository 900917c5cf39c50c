// Command reins runs the Reins job service: `reins serve` (API and workers), `reins worker`
// (workers only), `reins migrate` and `reins seed`; and its terminal client: `reins export`,
// `reins upload` and `reins jobs` (docs/cli.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if isClientCommand(os.Args[1:]) {
		// The client asks what to do on Ctrl-C instead of stopping at once.
		interrupts := make(chan os.Signal, 1)
		signal.Notify(interrupts, os.Interrupt)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		os.Exit(runClient(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, interrupts))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
