package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/demo"
)

// seed inserts n deterministic demo customers (COPY on Postgres).
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
	if err := b.SeedCustomers(ctx, n, func(i int64) reins.Customer { return demo.Customer(i, n) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d customers into %s in %s\n", n, databaseName(cfg), time.Since(start).Round(time.Millisecond))
	return nil
}
