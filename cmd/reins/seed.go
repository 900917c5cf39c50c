package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/demo"
)

// seed leaves exactly n deterministic demo customers (COPY on Postgres), however often it
// runs: the same n rows each time; customers that are not demo ones are untouched.
func seed(ctx context.Context, cfg Config, n int64, stdout io.Writer) error {
	if n < 1 {
		return fmt.Errorf("--customers must be at least 1, got %d", n)
	}
	b, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	start := time.Now()
	inserted, err := b.SeedDemoCustomers(ctx, n, func(i int64) reins.Customer { return demo.Customer(i, n) })
	if err != nil {
		return err
	}
	if !inserted {
		fmt.Fprintf(stdout, "the %d demo customers are already in %s; nothing to do\n", n, databaseName(cfg))
		return nil
	}
	fmt.Fprintf(stdout, "seeded %d demo customers into %s in %s\n", n, databaseName(cfg), time.Since(start).Round(time.Millisecond))
	return nil
}
